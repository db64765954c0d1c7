"""The render thread of ``DisplayController`` (a base class holding only that thread's code).

Each tick: apply the schedules at their edges, ask ``Takeover`` whether a
notification or a live plugin has the panel (the rotation is paused while one
has), otherwise advance the rotation; then render one frame of whatever is on
the panel and return how long to sleep. The render thread never waits on a
plugin's ``update()``: it try-locks the plugin and, if an update holds the
lock, keeps showing that plugin's last frame. It sleeps until the next thing
can change (next frame for a scrolling plugin or notification, next second for
a 1 fps one, the end of the dwell, or an API call). A native plugin that says
when its frame next changes (``next_frame_at``) is not re-rendered before then:
a static HH:MM clock costs one render a minute and a cheap tick a second.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from PIL import Image

from ledmatrix_mqtt.core.notifications import Showing
from ledmatrix_mqtt.runtime import rotation as rot
from ledmatrix_mqtt.runtime.frames import FrameStore
from ledmatrix_mqtt.runtime.loaded import LoadedPlugin
from ledmatrix_mqtt.runtime.plugin_table import PluginTable
from ledmatrix_mqtt.runtime.rendering import RenderWatchdog, render_slot
from ledmatrix_mqtt.runtime.schedule_driver import ScheduleDriver
from ledmatrix_mqtt.runtime.takeover import Takeover

_LOG = logging.getLogger(__name__)
IDLE_WAIT_S = 1.0


class RenderLoop:
    """The render side of ``DisplayController``; the controller sets these attributes."""

    frames: FrameStore
    plugins: PluginTable
    _lock: threading.RLock
    _wake: threading.Event
    _stop: threading.Event
    _wall: Callable[[], float]
    _tz: dt.tzinfo
    _rotation: rot.RotationState
    _advance: bool
    _power: bool
    _brightness: int
    _day_brightness: int
    _dimmed: bool
    _schedule: ScheduleDriver
    _takeover: Takeover
    _on_panel: str
    _rendered: tuple[rot.Slot | None, float]
    _empty_streak: int
    _watchdog: RenderWatchdog
    # the frame on the panel holds until (wall due, monotonic bound): (plugin, slot, start, ...)
    _static: tuple[LoadedPlugin, rot.Slot, float, dt.datetime, float] | None = None

    def _notify(self, kind: str) -> None:
        raise NotImplementedError

    def _choose(self, state: rot.RotationState, now: float, *, advance: bool) -> rot.RotationState:
        raise NotImplementedError

    def _live_sink(self, plugin_id: str) -> Callable[[Image.Image], None]:
        """Frames a LEDMatrix plugin commits mid-``display()`` reach the panel if it is on."""

        def sink(frame: Image.Image) -> None:
            with self._lock:
                showing = self._power and self._on_panel == plugin_id
            if showing:
                self._push(frame)

        return sink

    def _push(self, frame: Image.Image) -> None:
        self._static = None  # whatever pushes, the held frame is no longer what is shown
        if self.frames.push(frame):
            self._notify("frame")

    def _render_loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._tick()
            except Exception:  # our own bug must not freeze the panel for good
                _LOG.exception("render tick failed")
                wait = IDLE_WAIT_S
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()

    def _apply_schedule(self, wall: dt.datetime) -> None:
        changes = self._schedule.due(wall)
        if changes.power is None and changes.dimmed is None:
            return
        with self._lock:
            if changes.power is not None:
                self._power = changes.power
            if changes.dimmed is not None:
                self._dimmed = changes.dimmed
                dim = self._schedule.dim_brightness
                self._brightness = dim if changes.dimmed else self._day_brightness
            brightness = self._brightness
        self.frames.set_brightness(brightness)
        self._notify("state")

    def _tick(self) -> float:
        """Render one frame of what the panel shows now; return how long to sleep."""
        now = time.monotonic()
        self._apply_schedule(dt.datetime.fromtimestamp(self._wall(), self._tz))
        pick = self._takeover.pick(now)
        with self._lock:
            previous = self._rotation
            if pick.resume_shift:
                previous = replace(previous, started_at=previous.started_at + pick.resume_shift)
            if pick.notification is None and pick.live is None:
                advance, self._advance = self._advance, False
                self._rotation = self._choose(previous, now, advance=advance)
            else:
                self._rotation = previous
            current, power = self._rotation, self._power
            shown = pick.live if pick.live is not None else current
            self._on_panel = "" if pick.notification or not shown.slot else shown.slot.plugin_id
        if pick.changed or (current.slot, current.started_at) != (
            previous.slot, previous.started_at
        ):  # fmt: skip
            self._notify("state")
        if not power:
            self._static = None
            if self.frames.blank():
                self._notify("frame")
            return IDLE_WAIT_S
        if pick.notification is not None:
            return self._render_notification(pick.notification, now)
        slot = shown.slot
        plugin = self.plugins.get(slot.plugin_id) if slot else None
        if slot is None or plugin is None:
            self._show_idle()
            return IDLE_WAIT_S
        current = shown
        force_clear = self._rendered != (slot, current.started_at)
        self._rendered = (slot, current.started_at)
        return self._render(plugin, slot, current, now, force_clear)

    def _render(
        self,
        plugin: LoadedPlugin,
        slot: rot.Slot,
        current: rot.RotationState,
        now: float,
        force_clear: bool,
    ) -> float:
        wall = dt.datetime.fromtimestamp(self._wall(), self._tz)
        ends_at = current.ends_at() or now + IDLE_WAIT_S
        held = None if force_clear else self._held_until(plugin, slot, current, wall, now)
        if held is not None:  # the frame on the panel is still current: no render
            return max(0.0, min(IDLE_WAIT_S, held - now, ends_at - now))
        outcome = render_slot(
            plugin, slot.mode, wall, now - current.started_at, force_clear, self._watchdog
        )
        if outcome.frame is not None:
            self._empty_streak = 0
            self._push(outcome.frame)
            if outcome.due is not None:
                bound = time.monotonic() + outcome.next_frame_in
                self._static = (plugin, slot, current.started_at, outcome.due, bound)
        elif outcome.skip:
            self._empty_streak += 1
            with self._lock:
                self._advance = True
            if self._empty_streak < max(2, len(self.plugins.slots())):
                return 0.0
            self._empty_streak = 0
            self._show_idle()  # nothing has content: do not spin
            return IDLE_WAIT_S
        # a held frame still ticks each second: schedules and wall-clock jumps are seen there
        wait = min(outcome.next_frame_in, IDLE_WAIT_S) if outcome.due else outcome.next_frame_in
        return max(0.0, min(wait, ends_at - time.monotonic()))

    def _held_until(
        self,
        plugin: LoadedPlugin,
        slot: rot.Slot,
        current: rot.RotationState,
        wall: dt.datetime,
        now: float,
    ) -> float | None:
        """The monotonic time up to which the shown frame of this slot stays current, if it
        does: the plugin declared it (``next_frame_at``), and neither that wall time nor the
        bound has passed (a wall clock set back cannot hold a frame longer than the bound)."""
        held = self._static
        if held is None or held[:3] != (plugin, slot, current.started_at):
            return None
        return held[4] if wall < held[3] and now < held[4] else None

    def _render_notification(self, showing: Showing, now: float) -> float:
        painter = self._takeover.painter
        note = showing.notification
        self._push(painter.render(note, now - showing.started_at))
        wait = 1.0 / painter.fps(note)
        if showing.ends_at is not None:
            wait = min(wait, max(0.0, showing.ends_at - now))
        return wait

    def _show_idle(self) -> None:
        self._static = None
        if self.frames.blank():
            self._notify("frame")
