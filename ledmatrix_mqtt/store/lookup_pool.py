"""A bounded pool of daemon threads for network lookups, handing out ``Future``\\s.

``ThreadPoolExecutor`` workers are joined when the interpreter exits, so one GitHub
request stalled on the network kept a finished ``plugins search`` process open until
the request's own deadline. These workers are daemon threads: a short-lived process
exits once it has answered, abandoning what is still in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple["Future[Any]", Callable[[], Any]]


class LookupPool:
    """At most ``max_workers`` threads, started on demand; jobs run in submission order."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._max_workers = max_workers
        self._name = name
        self._workers = 0
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn``; its future holds what it returned or raised. ``RuntimeError``
        after ``close``."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the lookup pool is closed")
            self._jobs.put((future, fn))
            if self._workers < self._max_workers:
                self._workers += 1
                name = f"{self._name}-{self._workers}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        return future

    def close(self) -> None:
        """Cancel the queued jobs and stop the idle workers; never waits for a running one."""
        with self._lock:
            self._closed = True
            workers = self._workers
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in range(workers):
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)
