"""The store operation queue: serial, progress, typed errors, busy rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ledmatrix_mqtt.core.models import Progress, Stage
from ledmatrix_mqtt.errors import Busy, InternalError, NotFound
from ledmatrix_mqtt.store.operations import OperationQueue, OperationSnapshot
from tests.support.waiting import wait_until

Watched = tuple[OperationQueue, list[OperationSnapshot]]


@pytest.fixture
def watched() -> Iterator[Watched]:
    """A queue and every snapshot it emits, in order; stopped after the test."""
    ops = OperationQueue()
    seen: list[OperationSnapshot] = []
    ops.add_listener(seen.append)
    yield ops, seen
    ops.stop()


def test_runs_work_and_reports_progress(watched: Watched) -> None:
    ops, seen = watched
    caller: list[Progress] = []

    def work(progress: object) -> str:
        progress(Progress("install", "x", Stage.DOWNLOADING, 40))  # type: ignore[operator]
        return "ok"

    assert ops.submit("install", "x", work, progress=caller.append).result() == "ok"
    assert [s.status for s in seen][0] == "queued"
    assert any(s.stage == "downloading" and s.percent == 40 for s in seen)
    assert seen[-1].status == "done" and seen[-1].percent == 100
    assert caller == [Progress("install", "x", Stage.DOWNLOADING, 40)]


def test_typed_errors_pass_through_and_others_become_internal(watched: Watched) -> None:
    ops, seen = watched

    def not_found(_: object) -> None:
        raise NotFound("no such plugin")

    def crash(_: object) -> None:
        raise ValueError("bug")

    with pytest.raises(NotFound):
        ops.submit("install", "a", not_found).result()
    with pytest.raises(InternalError, match="ValueError"):
        ops.submit("install", "b", crash).result()
    assert wait_until(lambda: seen and seen[-1].status == "failed")
    assert seen[-1].error_code == "internal_error"


def test_operations_are_serial_and_duplicates_are_busy() -> None:
    ops = OperationQueue()
    gate = threading.Event()
    running = threading.Event()
    order: list[str] = []
    active = []

    def slow(_: object) -> None:
        active.append(1)
        running.set()
        gate.wait(5)
        order.append("slow")
        assert len(active) == 1
        active.pop()

    def fast(_: object) -> None:
        active.append(1)
        order.append("fast")
        assert len(active) == 1
        active.pop()

    first = ops.submit("install", "x", slow)
    running.wait(5)
    with pytest.raises(Busy):
        ops.submit("install", "x", slow)
    second = ops.submit("update", "y", fast)
    gate.set()
    first.result(5)
    second.result(5)
    assert order == ["slow", "fast"]
    ops.stop()


def test_queue_depth_cap() -> None:
    ops = OperationQueue(max_pending=1)
    gate = threading.Event()
    started = threading.Event()

    def block(_: object) -> None:
        started.set()
        gate.wait(5)

    ops.submit("install", "a", block)
    started.wait(5)
    ops.submit("install", "b", block)
    with pytest.raises(Busy, match="waiting"):
        ops.submit("install", "c", block)
    gate.set()
    ops.stop()


def test_stop_cancels_queued_operations() -> None:
    ops = OperationQueue()
    gate = threading.Event()
    started = threading.Event()

    def block(_: object) -> None:
        started.set()
        gate.wait(5)

    running = ops.submit("install", "a", block)
    started.wait(5)
    queued = ops.submit("install", "b", block)
    stopper = threading.Thread(target=ops.stop)
    stopper.start()
    gate.set()
    stopper.join(5)
    running.result(1)
    with pytest.raises(Busy, match="stopped"):
        queued.result(1)
    with pytest.raises(Busy):
        ops.submit("install", "c", block)


def test_queued_snapshot_is_never_emitted_after_the_job_finished() -> None:
    """The "queued" snapshot was emitted after the job was handed to the worker, so a
    fast job's "done" could reach listeners first and the last state seen was "queued"."""
    ops = OperationQueue()
    finished = threading.Event()
    seen: list[str] = []

    def listener(snap: OperationSnapshot) -> None:
        if snap.status == "queued":
            finished.wait(0.5)  # give a racing worker every chance to finish first
        seen.append(snap.status)
        if snap.status == "done":
            finished.set()

    ops.add_listener(listener)
    ops.submit("install", "x", lambda _progress: None).result()
    assert seen[0] == "queued" and seen[-1] == "done"
    ops.stop()


def test_progress_names_the_plugin_being_worked_on_and_the_final_snapshot_the_target(
    watched: Watched,
) -> None:
    """update_all is one operation: its snapshots say which plugin is updating now."""
    ops, seen = watched

    def work(progress: object) -> None:
        for pid in ("a", "b"):
            progress(Progress("update", pid, Stage.DOWNLOADING, 50))  # type: ignore[operator]

    ops.submit("update_all", "", work, tag="tx-1").result()
    assert [s.plugin_id for s in seen if s.stage == "downloading"] == ["a", "b"]
    assert seen[-1].plugin_id == "" and seen[-1].status == "done"
    assert {s.tag for s in seen} == {"tx-1"}
