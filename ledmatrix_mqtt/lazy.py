"""``Lazy``: a value built on first use, exactly once, from any thread.

Start-up constructs only what reaching ``online`` needs; parts that are used later
(the installer, the reconciler) are held as ``Lazy`` so their modules load on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """``get()`` calls ``build`` once (the first caller builds, concurrent callers wait)
    and returns the same value ever after; a ``build`` that raises is tried again next time."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: tuple[T] | None = None  # a tuple: T itself may be None

    def get(self) -> T:
        value = self._value  # lock-free once built; the lock only while building
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = (self._build(),)
                value = self._value
        return value[0]

    @property
    def built(self) -> bool:
        return self._value is not None
