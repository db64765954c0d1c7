"""The service's malloc arena cap, in a fresh process (the cap only binds before threads start)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ledmatrix_mqtt import memory

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="malloc arenas are a glibc feature",
)

# Eight threads allocate at once; each secondary glibc arena is a 64 MiB-aligned heap
# mapping (its used part, then the reserved rest), counted from /proc/self/smaps.
_PROBE = """
import sys, threading
from ledmatrix_mqtt import memory
if sys.argv[1] == "cap":
    assert memory.limit_arenas()
go = threading.Barrier(8)
keep = []
def work():
    go.wait()
    keep.append([bytes(300_000) for _ in range(20)] + [bytearray(64) for _ in range(20_000)])
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
sizes = []
for line in open("/proc/self/maps"):
    span, perms = line.split()[:2]
    start, end = (int(x, 16) for x in span.split("-"))
    sizes.append((start, end - start, perms, len(line.split()) > 5))
heaps = sum(
    1 for (a, n, p, named), (b, m, q, _) in zip(sizes, sizes[1:])
    if not named and p == "rw-p" and q == "---p" and a + n == b and n + m == 64 << 20
    and a % (64 << 20) == 0
)
print(heaps)
"""


def _secondary_arenas(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True, text=True, timeout=60, check=True, env=environ,
    )  # fmt: skip
    return int(done.stdout)


@glibc_only
def test_capped_service_threads_share_one_secondary_arena() -> None:
    assert _secondary_arenas("free") > 1  # the probe sees arenas: each thread gets its own
    assert _secondary_arenas("cap") <= memory.ARENA_MAX - 1


@glibc_only
def test_arena_cap_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_arenas() is False


_COLLECTOR = """
import gc, weakref
from ledmatrix_mqtt import memory
class Node:
    pass
memory.pause_collector()
assert not gc.isenabled()
garbage = [Node() for _ in range(5_000)]
for node in garbage:
    node.me = node
watch = weakref.ref(garbage[0])
kept = [[] for _ in range(50_000)]
del garbage, node
print(gc.get_count()[0] > 700 and watch() is not None, end=" ")  # no collection ran
memory.resume_collector()
print(gc.isenabled(), watch() is None, gc.get_freeze_count() > 50_000, gc.collect() == 0)
"""


def test_the_collector_pauses_for_start_up_and_resumes_with_its_objects_frozen() -> None:
    """Start-up's garbage is collected once; what it keeps is frozen, never traversed again."""
    done = subprocess.run(
        [sys.executable, "-c", _COLLECTOR], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.split() == ["True"] * 5
