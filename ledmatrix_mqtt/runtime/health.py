"""Per-plugin health: consecutive failures, cool-downs, and the last error.

Pure bookkeeping driven by the scheduler (update results) and the render loop
(render results). Unlike LEDMatrix (#316) a failure never parks a plugin in a
permanent error state: after the cool-down it is tried again. ``on_change`` is
called (outside the lock) when what the status shows, healthy or the error,
changes, so the retained plugin state can follow.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

FAILURES_BEFORE_COOLDOWN = 3
UPDATE_COOLDOWN_S = 300.0
RENDER_COOLDOWN_S = 60.0


@dataclass(frozen=True)
class HealthSnapshot:
    healthy: bool
    consecutive_failures: int
    cooldown_until: float
    last_error: str


class PluginHealth:
    """Thread-safe health record of one plugin. Times are ``time.monotonic()`` values."""

    def __init__(
        self,
        *,
        failures_before_cooldown: int = FAILURES_BEFORE_COOLDOWN,
        update_cooldown: float = UPDATE_COOLDOWN_S,
        render_cooldown: float = RENDER_COOLDOWN_S,
    ) -> None:
        self._lock = threading.Lock()
        self._limit = failures_before_cooldown
        self._update_cooldown = update_cooldown
        self._render_cooldown = render_cooldown
        self._failures = 0
        self._update_cooldown_until = 0.0
        self._render_cooldown_until = 0.0
        self._error = ""
        self._render_failed = False
        self.on_change: Callable[[], None] | None = None

    @contextlib.contextmanager
    def _recording(self) -> Iterator[None]:
        with self._lock:
            before = (self._healthy(), self._error)
            yield
            changed = (self._healthy(), self._error) != before
        if changed and self.on_change is not None:
            self.on_change()

    def _healthy(self) -> bool:
        return self._failures == 0 and not self._render_failed

    def record_update_success(self) -> None:
        with self._recording():
            self._failures = 0
            self._update_cooldown_until = 0.0  # a render cool-down runs its course
            if not self._render_failed:
                self._error = ""

    def record_update_failure(self, now: float, error: str) -> None:
        """Count a failed or timed-out update; the n-th in a row starts a cool-down."""
        with self._recording():
            self._failures += 1
            self._error = error
            if self._failures >= self._limit:
                self._update_cooldown_until = now + self._update_cooldown

    def record_render_success(self) -> None:
        with self._recording():
            if self._render_failed:
                self._render_failed = False
                if self._failures == 0:
                    self._error = ""

    def record_render_failure(self, now: float, error: str) -> None:
        """A render that raised: unhealthy at once and out of the rotation for a while."""
        with self._recording():
            self._render_failed = True
            self._error = error
            self._render_cooldown_until = now + self._render_cooldown

    def in_cooldown(self, now: float) -> bool:
        return now < self.snapshot().cooldown_until

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            healthy = self._healthy()
            until = max(self._update_cooldown_until, self._render_cooldown_until)
            return HealthSnapshot(healthy, self._failures, until, self._error)
