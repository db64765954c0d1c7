"""Resident memory of the running service with 10 plugins loaded (and with 0, for comparison).

Runs the real service as a subprocess (``ledmatrix-mqtt --config X run``,
headless backend, its own mosquitto, FakeGitHub registry), waits until it is
``online`` and the plugins are loaded, lets it settle (rotation, updates), then
samples RSS and USS with psutil every 0.5 s for a window. Prints median and
p99 of the samples per scenario and the difference per plugin.

    .venv/bin/python bench/memory_rss.py [--plugins 10] [--settle 10] [--window 10] [--quick]
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import _common as c  # first: puts the repo on sys.path
import psutil
from startup_online import FirstSeen, loaded_count

from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import registry_entry

MIB = 1024 * 1024


def measure(config: Path, port: int, expect: int, settle: float, window: float):  # type: ignore[no-untyped-def]
    seen = FirstSeen(port)
    proc = subprocess.Popen(
        [str(c.SERVICE_EXE), "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not seen.wait(("availability",), 30):
            raise RuntimeError("service never came online")
        deadline = time.monotonic() + 15
        while loaded_count(seen) < expect and time.monotonic() < deadline:
            time.sleep(0.1)
        if loaded_count(seen) < expect:
            raise RuntimeError(f"only {loaded_count(seen)} of {expect} plugins loaded")
        time.sleep(settle)
        ps = psutil.Process(proc.pid)
        rss, uss = [], []
        end = time.monotonic() + window
        while time.monotonic() < end:
            info = ps.memory_full_info()
            rss.append(info.rss / MIB)
            uss.append(info.uss / MIB)
            time.sleep(0.5)
        return rss, uss, ps.num_threads()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        seen.close()


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--plugins", type=int, default=10)
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--window", type=float, default=10.0)
    args = ap.parse_args()
    settle, window = (2.0, 2.0) if args.quick else (args.settle, args.window)
    print(c.noise_note())
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = MosquittoBroker(tmp / "broker").start()
        fake = FakeGitHub().start()
        fake.set_registry([registry_entry(fake, f"bench-{i:03d}") for i in range(args.plugins)])
        try:
            for count in (0, args.plugins):
                folder = tmp / f"p{count}"
                ids = c.write_plugins(folder / "state" / "plugins", count)
                config = c.write_service_config(folder, broker.port, fake.store_config(), ids)
                results[count] = measure(config, broker.port, count, settle, window)
        finally:
            fake.stop()
            broker.stop()
    print(f"settle {settle:.0f} s, then samples every 0.5 s for {window:.0f} s")
    for count, (rss, uss, threads) in results.items():
        print(c.summary(f"RSS with {count} plugins", rss, "MiB"))
        print(c.summary(f"USS with {count} plugins", uss, "MiB") + f"; threads {threads}")
    extra = statistics.median(results[args.plugins][0]) - statistics.median(results[0][0])
    print(
        f"RSS cost of {args.plugins} plugins: {extra:.1f} MiB ({extra / args.plugins:.2f} MiB each)"
    )
    print(c.noise_note())


if __name__ == "__main__":
    main()
