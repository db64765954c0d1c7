"""LookupPool: results and errors reach the futures, ``close`` cancels what has not started
and never waits for a running (stalled) job, and its threads never hold the process open."""

from __future__ import annotations

import threading

import pytest

from ledmatrix_mqtt.store.lookup_pool import LookupPool


def test_results_and_errors_reach_their_futures() -> None:
    pool = LookupPool(2, "test")
    ok = pool.submit(lambda: 41 + 1)

    def broken() -> int:
        raise ValueError("no")

    failed = pool.submit(broken)
    assert ok.result(timeout=5) == 42
    with pytest.raises(ValueError, match="no"):
        failed.result(timeout=5)
    pool.close()


def test_close_cancels_queued_jobs_without_waiting_for_a_stalled_one() -> None:
    pool = LookupPool(1, "test")
    release = threading.Event()
    started = threading.Event()

    def stalled() -> str:
        started.set()
        release.wait(30)
        return "late"

    running = pool.submit(stalled)
    assert started.wait(5)
    queued = pool.submit(lambda: "never")
    pool.close()  # returns at once although ``stalled`` still runs
    assert queued.cancelled() and not running.done()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(lambda: "refused")
    workers = [t for t in threading.enumerate() if t.name.startswith("test-")]
    assert workers and all(t.daemon for t in workers), "a worker would hold the process open"
    release.set()
    assert running.result(timeout=5) == "late"
