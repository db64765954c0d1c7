"""What takes the panel over from the rotation: notifications first, then live plugins.

Order (highest first): a notification; a plugin with live content (LEDMatrix
live priority; several round-robin, each for its dwell); the rotation. While
something takes over, the rotation is paused: when the takeover ends it
resumes on the same plugin with the dwell it had left (``Pick.resume_shift``
is how long it was paused). Thread-safe; the render thread calls ``pick``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ledmatrix_mqtt.core import notifications as notes
from ledmatrix_mqtt.runtime import rotation as rot
from ledmatrix_mqtt.runtime.notification_view import NotificationPainter
from ledmatrix_mqtt.runtime.plugin_table import PluginTable


@dataclass(frozen=True)
class Pick:
    notification: notes.Showing | None = None
    live: rot.RotationState | None = None  # its ``slot`` is set when a live plugin shows
    resume_shift: float = 0.0  # > 0 once, when a takeover ends: add to the rotation's start
    changed: bool = False  # what the state shows changed (a notification, a live plugin)


class Takeover:
    def __init__(
        self,
        painter: NotificationPainter,
        plugins: PluginTable,
        eligible: Callable[[str], bool],
    ) -> None:
        self.painter = painter
        self._plugins = plugins
        self._eligible = eligible
        self._lock = threading.Lock()
        self._board = notes.Board()
        self._live = rot.RotationState()
        self._paused_at: float | None = None

    # notifications ---------------------------------------------------------------------
    def notify(self, notification: notes.Notification, now: float) -> notes.NotificationState:
        with self._lock:
            self._board = notes.post(self._board, notification, now, self.painter.length)
            return self._board.state()

    def dismiss(self, notification_id: str | None, now: float) -> notes.NotificationState:
        with self._lock:
            self._board = notes.dismiss(self._board, notification_id, now, self.painter.length)
            return self._board.state()

    def notifications(self) -> notes.NotificationState:
        with self._lock:
            return self._board.state()

    def live_plugin(self) -> str:
        """The live plugin on the panel, "" if none."""
        with self._lock:
            slot = self._live.slot
            return slot.plugin_id if slot and self._board.showing is None else ""

    # the render thread ---------------------------------------------------------------
    def pick(self, now: float) -> Pick:
        live_slots = self._live_slots()
        with self._lock:
            board = notes.advance(self._board, now, self.painter.length)
            changed = board.showing != self._board.showing
            self._board = board
            previous = self._live.slot
            if not live_slots:
                self._live = rot.RotationState()
            else:
                self._live = rot.choose(self._live, live_slots, now, eligible=self._eligible)
            changed = changed or self._live.slot != previous
            live = self._live if self._live.slot is not None else None
            taken = board.showing is not None or live is not None
            shift = 0.0
            if taken and self._paused_at is None:
                self._paused_at = now
            elif not taken and self._paused_at is not None:
                shift, self._paused_at = now - self._paused_at, None
        return Pick(board.showing, live if board.showing is None else None, shift, changed)

    def _live_slots(self) -> tuple[rot.Slot, ...]:
        out = []
        for slot in self._plugins.slots():
            plugin = self._plugins.get(slot.plugin_id)
            if plugin is not None and slot.mode in plugin.live_modes:
                out.append(slot)
        return tuple(out)
