"""Shared helpers for the newer benchmarks: percentiles, summaries, machine-noise notes.

Benchmarks are scripts, not tests: they print figures (median, p99, spread) and
a note on how busy the machine was, so two runs can be compared honestly.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.support (FakeGitHub, MosquittoBroker, plugin_factory)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0..100 (p99 of 10 values is the maximum)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(label: str, values: Sequence[float], unit: str = "ms") -> str:
    """``label: median X, p99 Y, min/max, n`` on one line."""
    if not values:
        return f"{label}: no samples"
    return (
        f"{label}: median {statistics.median(values):.1f} {unit}, "
        f"p99 {percentile(values, 99):.1f} {unit}, "
        f"min {min(values):.1f}, max {max(values):.1f} (n={len(values)})"
    )


def spread(values: Sequence[float]) -> str:
    """Relative spread across repeated runs: (max - min) / median, and the stdev."""
    if len(values) < 2:
        return "spread: n/a (one run)"
    med = statistics.median(values)
    rel = (max(values) - min(values)) / med * 100 if med else math.nan
    return f"spread across runs: {rel:.0f}% of the median (stdev {statistics.stdev(values):.1f})"


def noise_note() -> str:
    """Load average and CPU count now: a busy machine inflates every figure."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "machine: load average unavailable"
    cpus = os.cpu_count() or 1
    return f"machine: {cpus} CPUs, load average {one:.2f} (1 min) {five:.2f} (5 min)"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An ArgumentParser with the common ``--quick`` flag (a fast smoke run)."""
    first = (doc or "").strip().split("\n\n")[0]
    p = argparse.ArgumentParser(description=first)
    p.add_argument("--quick", action="store_true", help="a short smoke run (fewer repetitions)")
    return p


class Stopwatch:
    """``with Stopwatch() as sw: ...``; ``sw.ms`` afterwards."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self._start) * 1000


# -- a real service as a subprocess (startup_online, memory_rss) ----------------------
DEVICE = "benchpanel"
ROOT_TOPIC = f"ledmatrix/{DEVICE}"
SERVICE_EXE = Path(sys.executable).with_name("ledmatrix-mqtt")


def write_plugins(plugins_dir: Path, count: int) -> list[str]:
    """``count`` LEDMatrix-style test plugins written straight into ``plugins_dir``."""
    from tests.support.plugin_factory import plugin_files

    ids = [f"bench-{i:03d}" for i in range(count)]
    for plugin_id in ids:
        folder = plugins_dir / plugin_id
        folder.mkdir(parents=True, exist_ok=True)
        for rel, data in plugin_files(plugin_id, text=plugin_id[-3:]).items():
            (folder / rel).write_bytes(data)
    return ids


def write_service_config(
    folder: Path, broker_port: int, store: dict[str, object], plugin_ids: Sequence[str]
) -> Path:
    """config.yaml for a headless service on ``broker_port`` with a block per plugin."""
    from tests.support import yamlio

    doc = {
        "device": {"id": DEVICE, "name": "Bench Panel", "timezone": "UTC"},
        "state_dir": str(folder / "state"),
        "log_level": "WARNING",
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "embedded": False},
        "store": store,
        "display": {"backend": "headless"},
        "plugins": {pid: {"enabled": True, "display_duration": 5} for pid in plugin_ids},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yamlio.dump(doc))
    return path
