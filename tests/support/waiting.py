"""The one polling wait for tests: bounded by a timeout, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Waited:
    """What a wait saw. Truthy when the condition held in time.

    ``seconds`` is how long it took (the whole timeout when it never held);
    ``value`` is the predicate's last answer. A failed ``assert`` shows all three.
    """

    met: bool
    seconds: float
    value: object

    def __bool__(self) -> bool:
        return self.met


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.01) -> Waited:
    """Poll ``predicate`` every ``step`` seconds until it is truthy or ``timeout`` passes.

    Use the answer: ``assert wait_until(cond, 10), "what was awaited"``, or
    ``assert not wait_until(cond, 1)`` for "stays false for a second".
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        value = predicate()
        if value:
            return Waited(True, time.monotonic() - started, value)
        if time.monotonic() >= deadline:
            return Waited(False, time.monotonic() - started, value)
        time.sleep(step)
