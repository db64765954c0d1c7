"""One queue that serialises every store mutation, with progress for the front ends.

Install, uninstall, update and reconcile run one at a time on a single worker
thread, so two operations never race on the plugins folder or the config file.
Reads (list, search) never go through here and never wait behind an install.
Listeners receive an :class:`OperationSnapshot` on every stage change, in
order: the one progress source (MQTT ``state/operation`` and the plugins'
update entities are built from it).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ledmatrix_mqtt.api import OperationSnapshot, ProgressFn
from ledmatrix_mqtt.core.models import Progress, Stage
from ledmatrix_mqtt.errors import Busy, InternalError, LedMatrixError

__all__ = ["OperationQueue", "OperationSnapshot"]

_LOG = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Job:
    key: tuple[str, str]
    snapshot: OperationSnapshot
    work: Callable[[ProgressFn], Any]
    future: Future[Any]
    caller_progress: ProgressFn | None


class OperationQueue:
    """Serial executor for store mutations.

    ``submit`` raises ``Busy`` when ``max_pending`` operations are already waiting,
    or when the same kind of operation on the same plugin is already queued or
    running (a double-click must not queue a second install).
    """

    def __init__(self, *, max_pending: int = 16) -> None:
        self._pending: queue.Queue[_Job | None] = queue.Queue()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], _Job] = {}
        self._listeners: list[Callable[[OperationSnapshot], None]] = []
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- public -----------------------------------------------------------------
    def add_listener(self, callback: Callable[[OperationSnapshot], None]) -> None:
        self._listeners.append(callback)

    def submit(
        self,
        kind: str,
        plugin_id: str,
        work: Callable[[ProgressFn], T],
        *,
        progress: ProgressFn | None = None,
        tag: str = "",
    ) -> Future[T]:
        """Queue ``work(progress)``; its result or typed error lands in the future.

        ``tag`` is the caller's label, copied onto every snapshot of this operation.
        """
        future: Future[T] = Future()
        with self._lock:
            if self._stopped:
                raise Busy("the service is shutting down")
            key = (kind, plugin_id)
            if key in self._active:
                raise Busy(f"{kind} of {plugin_id or 'all plugins'} is already queued or running")
            if self._pending.qsize() >= self._max_pending:
                raise Busy(f"{self._pending.qsize()} operations are already waiting; try later")
            snap = OperationSnapshot(
                id=next(self._ids),
                kind=kind,
                plugin_id=plugin_id,
                status="queued",
                queued_at=time.time(),
                queue_depth=self._pending.qsize() + 1,
                tag=tag,
            )
            job = _Job(key, snap, work, future, progress)
            self._active[key] = job
            self._ensure_worker()
        self._emit(snap)  # before the worker can see the job: "queued" never follows "done"
        self._pending.put(job)
        return future

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the running operation, cancel queued ones, stop the worker."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._pending.put(None)
        if thread is not None:
            thread.join(timeout)

    # -- worker -----------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="store-ops", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._pending.get()
            if job is None:
                self._cancel_rest()
                return
            with self._lock:
                stopping = self._stopped
            if stopping:
                self._finish(job, failed=True, error=Busy("cancelled: the service stopped"))
            else:
                self._execute(job)

    def _cancel_rest(self) -> None:
        while True:
            try:
                job = self._pending.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._finish(job, failed=True, error=Busy("cancelled: the service stopped"))

    def _execute(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            self._finish(job, failed=True, error=Busy("cancelled"))
            return
        self._update(job, status="running", started_at=time.time())

        def report(progress: Progress) -> None:
            self._update(
                job,
                plugin_id=progress.plugin_id or job.key[1],
                stage=progress.stage.value,
                percent=max(0, min(100, int(progress.percent))),
                message=progress.message[:200],
            )
            if job.caller_progress is not None:
                try:
                    job.caller_progress(progress)
                except Exception:  # a listener bug must not fail the install
                    _LOG.exception("progress listener failed")

        try:
            result = job.work(report)
        except LedMatrixError as exc:
            self._finish(job, failed=True, error=exc)
        except Exception as exc:
            _LOG.exception("%s %s failed unexpectedly", job.snapshot.kind, job.snapshot.plugin_id)
            self._finish(job, failed=True, error=InternalError(f"{type(exc).__name__}: {exc}"))
        else:
            self._finish(job, failed=False, result=result)

    def _finish(
        self,
        job: _Job,
        *,
        failed: bool,
        result: Any = None,
        error: LedMatrixError | None = None,
    ) -> None:
        final = replace(
            job.snapshot,
            plugin_id=job.key[1],
            status="failed" if failed else "done",
            stage=Stage.FAILED.value if failed else Stage.DONE.value,
            percent=job.snapshot.percent if failed else 100,
            error_code=error.code if error else "",
            message=error.message[:200] if error else job.snapshot.message,
            finished_at=time.time(),
        )
        with self._lock:
            self._active.pop(job.key, None)
        job.snapshot = final
        self._emit(final)
        if not job.future.done():
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

    def _update(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            job.snapshot = replace(job.snapshot, **changes, queue_depth=self._pending.qsize())
        self._emit(job.snapshot)

    def _emit(self, snap: OperationSnapshot) -> None:
        for listener in list(self._listeners):
            try:
                listener(snap)
            except Exception:
                _LOG.exception("operation listener failed")
