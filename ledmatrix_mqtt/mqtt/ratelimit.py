"""A token bucket for inbound commands."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second. Thread-safe.

    ``take()`` returns False when empty; the caller answers ``rate_limited``.
    """

    def __init__(
        self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, cost: float = 1.0) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True
