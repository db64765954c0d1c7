"""Frame-time jitter of a scrolling plugin while an install-like load runs in parallel.

Runs the real DisplayController (headless backend) with the built-in text
plugin scrolling, records the wall time of every frame pushed, and meanwhile
runs install-like work in a thread: building, extracting and hashing zip
archives (the store's own install is not driven here, to keep the bench
self-contained and offline). Prints p50/p99 of the frame interval with and
without the load.

    .venv/bin/python bench/frame_jitter.py [seconds | --quick]
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common  # noqa: F401  # first: puts the repo on sys.path

from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.spec import builtin_specs
from tests.support.load import install_like_load


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(seconds: float, with_load: bool) -> tuple[list[float], int]:
    state = Path(tempfile.mkdtemp())
    cfg = DisplayConfig(backend="headless", default_duration=3600)
    controller = DisplayController(
        cfg, device=DeviceConfig("bench", "Bench", "UTC"), state_dir=state,
        backend=HeadlessBackend(cfg.width, cfg.height),
    )  # fmt: skip
    controller.sync_plugins(builtin_specs({"clock": {"enabled": False},
                                           "status": {"enabled": False}}))  # fmt: skip
    controller.set_text("Scrolling text while an install runs in the background " * 2)
    stamps: list[float] = []
    controller.add_listener(
        lambda kind: stamps.append(time.perf_counter()) if kind == "frame" else None
    )
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=install_like_load,
            args=(stop, state / f"w{i}"),
            kwargs={"members": 6, "member_bytes": 2 << 20},
        )
        for i in range(2)
    ]
    controller.start()
    time.sleep(0.5)
    if with_load:
        for w in workers:
            w.start()
    stamps.clear()
    time.sleep(seconds)
    stop.set()
    for w in workers if with_load else ():
        w.join()
    controller.stop()
    intervals = [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
    return intervals, len(stamps)


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else "10"
    seconds = 2.0 if arg == "--quick" else float(arg)
    for label, load in (("idle", False), ("install load", True)):
        intervals, frames = measure(seconds, load)
        print(
            f"{label:>12}: {frames} frames in {seconds:.0f} s ({frames / seconds:.1f} fps); "
            f"frame interval p50 {statistics.median(intervals):.1f} ms, "
            f"p99 {percentile(intervals, 0.99):.1f} ms, max {max(intervals):.1f} ms"
        )


if __name__ == "__main__":
    main()
