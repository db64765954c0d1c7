"""The ``list`` answer, encoded once and kept until the installed plugins change.

``list`` is the most frequent command and its data (every installed plugin with
its health) only changes on a store change, an enable/disable/configure or a
health event. So the encoded ``{"plugins": [...]}`` bytes are kept here and
spliced into each response envelope; anything that may change them calls
``invalidate`` *before* the change becomes visible to a client (before the
command's response, or at the event), so the next ``list`` never shows an older
state. A generation number keeps a build that raced an invalidation from being
stored. Answers older than ``max_age`` are still served, but the next one is
rebuilt in the background, so hand edits of plugin folders (which no event
reports) show within about ``max_age``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Build = Callable[[], bytes]


class ListAnswer:
    """Thread-safe. ``build`` returns the encoded ``list`` data object (may block)."""

    def __init__(
        self,
        build: Build,
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._data: bytes | None = None
        self._built_at = 0.0
        self._refreshing = False

    @property
    def generation(self) -> int:
        """Read before reading the store; pass to ``offer`` with what was built from it."""
        with self._lock:
            return self._generation

    def invalidate(self) -> None:
        """The plugins (may) have changed: the kept answer must not be served again."""
        with self._lock:
            self._generation += 1
            self._data = None

    def cached(self) -> tuple[bytes | None, bool]:
        """The kept answer (None if there is none) and whether it is due a rebuild.

        True is returned once per rebuild: the caller schedules ``refresh``.
        """
        with self._lock:
            if self._data is None:
                return None, False
            due = not self._refreshing and self._clock() - self._built_at >= self._max_age
            if due:
                self._refreshing = True
            return self._data, due

    def refresh_not_started(self) -> None:
        """The rebuild ``cached`` asked for could not be scheduled: ask again next time."""
        with self._lock:
            self._refreshing = False

    def offer(self, generation: int, data: bytes) -> None:
        """Keep ``data`` if nothing was invalidated since ``generation`` was read."""
        with self._lock:
            if generation == self._generation:
                self._data = data
                self._built_at = self._clock()

    def rebuild(self) -> None:
        """``refresh`` for a worker job (the answer is only kept)."""
        self.refresh()

    def refresh(self) -> bytes:
        """Build the answer now, keep it (unless invalidated meanwhile) and return it."""
        generation = self.generation
        try:
            data = self._build()
        finally:
            with self._lock:
                self._refreshing = False
        self.offer(generation, data)
        return data
