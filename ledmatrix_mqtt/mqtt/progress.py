"""The store queue's operation snapshots into throttled ``state/operation`` updates.

A thin adapter: the queue's ``OperationSnapshot`` is the one progress source.
Every status or stage change is published; percent updates within a stage at
most every ``interval`` seconds, so a chatty download cannot flood the broker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ledmatrix_mqtt.api import OperationSnapshot
from ledmatrix_mqtt.mqtt.state import OperationState

SetOperation = Callable[[OperationState], None]


class OperationFeed:
    def __init__(self, publish: SetOperation, interval: float) -> None:
        self._publish = publish
        self._interval = interval
        self._lock = threading.Lock()
        self._last: OperationState | None = None
        self._stamp = 0.0

    def __call__(self, snap: OperationSnapshot) -> None:
        op = OperationState.of(snap)
        now = time.monotonic()
        with self._lock:
            last = self._last
            changed = last is None or (op.status, op.stage, op.plugin_id) != (
                last.status,
                last.stage,
                last.plugin_id,
            )
            if not changed and now - self._stamp < self._interval:
                return
            self._last, self._stamp = op, now
            # under the lock: two threads' updates must reach the broker in order
            self._publish(op)
