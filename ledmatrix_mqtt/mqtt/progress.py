"""Store progress callbacks into throttled ``state/operation`` updates."""

from __future__ import annotations

import time
from collections.abc import Callable

from ledmatrix_mqtt.core.models import Progress
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.mqtt.codec import Request
from ledmatrix_mqtt.mqtt.state import OperationState

SetOperation = Callable[[OperationState, bool], None]


class OperationTracker:
    """One long operation. Publishes on start, on every stage change, at most
    every ``interval`` seconds in between, and once when it finishes."""

    def __init__(self, request: Request, publish: SetOperation, interval: float) -> None:
        self._publish = publish
        self._interval = interval
        self._op = OperationState(
            operation=request.command,
            plugin_id=str(getattr(request.args, "plugin_id", "")),
            status="running",
            stage="queued",
            started_at=time.time(),
            transaction=request.transaction,
        )
        self._last = 0.0
        publish(self._op, True)

    @property
    def current(self) -> OperationState:
        return self._op

    def report(self, progress: Progress) -> None:
        op = self._op.advanced(progress)
        now = time.monotonic()
        due = op.stage != self._op.stage or now - self._last >= self._interval
        self._op = op
        if due:
            self._last = now
            self._publish(op, True)

    def finish(self, error: LedMatrixError | None) -> None:
        self._op = OperationState(
            operation=self._op.operation,
            plugin_id=self._op.plugin_id,
            status="failed" if error else "done",
            stage="failed" if error else "done",
            percent=self._op.percent if error else 100,
            message=error.message[:200] if error else "",
            error_code=error.code if error else "",
            started_at=self._op.started_at,
            finished_at=time.time(),
            transaction=self._op.transaction,
        )
        self._publish(self._op, False)
