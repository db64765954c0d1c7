"""A Pi Zero 2-class CPU budget for a child process: 25 % of one core, pinned to one core.

``CpuLimit.choose()`` picks, in this order, whatever this machine allows:

1. cgroup v2: a child group with ``cpu.max = "25000 100000"`` (needs the ``cpu``
   controller in the unified hierarchy and a writable ``cgroup.subtree_control``);
2. cgroup v1: a child group of the ``cpu`` hierarchy with ``cpu.cfs_quota_us = 25000``
   and ``cpu.cfs_period_us = 100000``;
3. a duty-cycle limiter: a thread sends the child ``SIGSTOP``/``SIGCONT`` so that it
   runs 25 ms in every 100 ms of wall time. Coarser than the kernel's quota (a
   blocked child also loses its slot), so its figures are pessimistic; the table
   header says when it is in use.

Every limit also pins the child to one core (``taskset``). The child joins the
group before ``exec`` (a bash wrapper, see ``wrap``), so interpreter start-up is
throttled too. Nothing here ever runs a child unthrottled silently: ``describe()`` is
printed in the table header.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

QUOTA_US = 25_000
PERIOD_US = 100_000
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _v2_root() -> Path | None:
    """The unified hierarchy if its ``cpu`` controller can be delegated to a child group."""
    for root in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = root / "cgroup.controllers"
        with contextlib.suppress(OSError):
            if "cpu" in controllers.read_text().split() and os.access(
                root / "cgroup.subtree_control", os.W_OK
            ):
                return root
    return None


def _v1_root() -> Path | None:
    for name in ("cpu", "cpu,cpuacct"):
        root = CGROUP_ROOT / name
        if (root / "cpu.cfs_quota_us").exists() and os.access(root, os.W_OK):
            return root
    return None


class CpuLimit:
    """Run children under the budget: ``wrap`` their argv, ``attach`` once they started."""

    def __init__(self, kind: str, group: Path | None, core: int) -> None:
        self.kind = kind  # "cgroup v2", "cgroup v1" or "SIGSTOP/SIGCONT duty cycle"
        self.group = group
        self.core = core
        self._stops: list[threading.Event] = []

    @classmethod
    def choose(cls) -> CpuLimit:
        core = max(os.sched_getaffinity(0))
        name = f"ledmatrix-bench-{os.getpid()}"
        v2 = _v2_root()
        if v2 is not None:
            group = v2 / name
            with contextlib.suppress(OSError):
                (v2 / "cgroup.subtree_control").write_text("+cpu")
                group.mkdir()
                (group / "cpu.max").write_text(f"{QUOTA_US} {PERIOD_US}")
                return cls("cgroup v2 cpu.max", group, core)
            with contextlib.suppress(OSError):
                group.rmdir()
        v1 = _v1_root()
        if v1 is not None:
            group = v1 / name
            with contextlib.suppress(OSError):
                group.mkdir()
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(QUOTA_US))
                return cls("cgroup v1 cpu.cfs_quota_us", group, core)
            with contextlib.suppress(OSError):
                group.rmdir()
        return cls("SIGSTOP/SIGCONT duty cycle (no writable cgroup)", None, core)

    def describe(self) -> str:
        share = QUOTA_US / PERIOD_US * 100
        return f"{share:.0f} % of one core ({self.kind}), pinned to CPU {self.core}"

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` behind a shell that joins the group and pins itself, then ``exec``s.

        The shell, not a ``preexec_fn``, does it: forking a threaded Python and
        running Python code in the child can deadlock.
        """
        procs = str(self.group / "cgroup.procs") if self.group is not None else "/dev/null"
        script = 'echo $$ > "$0" && exec taskset -c "$1" "${@:2}"'
        return ["bash", "-c", script, procs, str(self.core), *argv]

    def attach(self, pid: int) -> None:
        """Start the duty-cycle thread for ``pid`` (a no-op under a cgroup)."""
        if self.group is not None:
            return
        stop = threading.Event()
        self._stops.append(stop)
        threading.Thread(target=_duty_cycle, args=(pid, stop), daemon=True).start()

    def close(self) -> None:
        """Stop duty-cycle threads and remove the (by now empty) group."""
        for stop in self._stops:
            stop.set()
        if self.group is not None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    self.group.rmdir()
                    return
                except OSError:
                    time.sleep(0.05)  # children still being reaped


def _duty_cycle(pid: int, stop: threading.Event) -> None:
    run, pause = QUOTA_US / 1e6, (PERIOD_US - QUOTA_US) / 1e6
    try:
        while not stop.is_set():
            time.sleep(run)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(pause)
            os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        return
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
