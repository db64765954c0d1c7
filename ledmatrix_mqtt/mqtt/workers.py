"""A named worker thread with a bounded job queue."""

from __future__ import annotations

import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable

_LOG = logging.getLogger(__name__)

Job = Callable[[], None]


class Worker:
    """Runs submitted jobs one at a time, in order. A job that raises is logged, never fatal."""

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> bool:
        """False when the queue is full (the caller answers ``busy``)."""
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        try:
            self._jobs.put(None, timeout=timeout)
        except queue.Full:
            _LOG.warning("worker %s did not drain before stop", self.name)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # a bug in one job must not stop the worker
                _LOG.exception("job on worker %s failed", self.name)


class OneShot:
    """Runs ``job`` once after a random delay in ``delay``, and never sooner than
    ``min_interval`` after its previous run. ``schedule`` while one is pending keeps
    the pending one, so a flood of triggers costs one timer thread and at most one
    run per ``min_interval``."""

    def __init__(self, delay: tuple[float, float], job: Job, *, min_interval: float = 0.0) -> None:
        self._delay = delay
        self._job = job
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last_run = -math.inf
        self.scheduled = 0  # how many runs were scheduled (for tests and stats)

    def schedule(self, delay: float | None = None) -> bool:
        """True if this call scheduled a run, False if one was already pending.

        ``delay``: this run's delay, instead of one drawn from the constructor's range."""
        with self._lock:
            if self._timer is not None:
                return False
            wait = max(
                random.uniform(*self._delay) if delay is None else delay,
                self._last_run + self._min_interval - time.monotonic(),
            )
            self._timer = threading.Timer(wait, self._fire)
            self._timer.daemon = True
            self.scheduled += 1
            self._timer.start()
            return True

    def cancel(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            self._last_run = time.monotonic()
        try:
            self._job()
        except Exception:
            _LOG.exception("scheduled job failed")
