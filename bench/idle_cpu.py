"""Process CPU used by a static clock (the cost of "nothing changes").

Runs the real DisplayController with only the built-in clock on the headless
backend for ~20 s and reports CPU% = process_time / wall time, per 2 s window
(median and p99) and overall.

    .venv/bin/python bench/idle_cpu.py [seconds]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.spec import builtin_specs

WINDOW_S = 2.0


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    cfg = DisplayConfig(backend="headless")
    controller = DisplayController(
        cfg, device=DeviceConfig("bench", "Bench", "UTC"), state_dir=Path(tempfile.mkdtemp()),
        backend=HeadlessBackend(cfg.width, cfg.height),
    )  # fmt: skip
    controller.sync_plugins(builtin_specs({"text": {"enabled": False},
                                           "status": {"enabled": False}}))  # fmt: skip
    controller.start()
    time.sleep(1.0)  # let imports and the first frame settle
    samples = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    for _ in range(int(seconds / WINDOW_S)):
        c, w = time.process_time(), time.monotonic()
        time.sleep(WINDOW_S)
        samples.append(100 * (time.process_time() - c) / (time.monotonic() - w))
    total = 100 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    pushed = controller.frames.pushed
    controller.stop()
    ordered = sorted(samples)
    print(
        f"static clock over {seconds:.0f} s: CPU median {statistics.median(samples):.2f} %, "
        f"p99 {ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]:.2f} %, "
        f"overall {total:.2f} %; frames pushed {pushed}"
    )


if __name__ == "__main__":
    main()
