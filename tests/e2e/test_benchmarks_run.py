"""Every benchmark runs in its ``--quick`` mode and prints its table.

Benchmarks are not timed tests: the figures of a shared, noisy CI machine say
nothing, so only that each one runs to the end (exit 0) and prints the rows it
promises is checked. ``service_table`` runs once per broker kind: all workloads
behind a ``set_tcp_nodelay`` broker, and the idle workload behind a stock one
under the ``--pi`` CPU quota (or its documented fallback).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

CASES = {
    "service_table": (
        ["--quick", "--brokers", "nodelay"],
        ["| workload | set_tcp_nodelay true | target |", "`list` round trip",
         "bare paho echo", "cold browse", "warm browse", "start-up to `online`",
         "restart: discovery/plugin-state messages per topic", "RSS, 10 plugins loaded",
         "idle CPU, whole service", "frames published in the idle window", "# machine:",
         "# mode: unthrottled"],
    ),
    "service_table --pi": (
        ["--quick", "--pi", "--only", "idle", "--brokers", "stock"],
        ["| workload | stock mosquitto | target |", "idle CPU, whole service",
         "# mode: --pi: service under 25 % of one core"],
    ),
    "list_installed": (["--quick"], ["cold ", "warm (memo", "warm (re-validate"]),
    "store_browse": (
        ["--quick"],
        ["cold search (stalls)", "search right after a stalled one",
         "next CLI run after a stalled one", "cold search ", "warm search "],
    ),
    "frame_jitter": (["--quick"], ["idle: ", "install load: "]),
    "frame_jitter_install": (
        ["--quick"], ["frame interval, idle:", "frame interval, installing:", "install duration:"],
    ),
}  # fmt: skip


def test_every_bench_script_has_a_case() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")}
    assert scripts == {name.split()[0] for name in CASES}


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs_and_prints_its_table(name: str) -> None:
    args, expected = CASES[name]
    script = BENCH / f"{name.split()[0]}.py"
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    missing = [line for line in expected if line not in done.stdout]
    assert not missing, f"{name} did not print {missing}:\n{done.stdout[-3000:]}"
