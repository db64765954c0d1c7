"""``DisplayController``: the display side of the service (implements ``api.DisplayApi``).

Two threads: the render thread (``render_loop.RenderLoop``, the base class) and
the update scheduler. Beyond ``DisplayApi`` it offers notifications
(``notify``/``dismiss``/``notifications``), schedules (``schedule_state``/
``set_schedule``) and ``wait_loaded``; every change fires the ``"state"`` event.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image

from ledmatrix_mqtt.api import DisplayState, PluginRuntimeStatus
from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig
from ledmatrix_mqtt.core.notifications import Notification, NotificationState, clean_text
from ledmatrix_mqtt.core.schedule import ScheduleState
from ledmatrix_mqtt.errors import Busy, InvalidPayload, NotInstalled
from ledmatrix_mqtt.runtime import rotation as rot
from ledmatrix_mqtt.runtime.backends.base import PanelBackend
from ledmatrix_mqtt.runtime.backends.select import select_backend
from ledmatrix_mqtt.runtime.frames import FrameStore
from ledmatrix_mqtt.runtime.loader import LoadEnvironment
from ledmatrix_mqtt.runtime.notification_view import NotificationPainter
from ledmatrix_mqtt.runtime.plugin_table import LOAD_TIMEOUT_S, PluginTable
from ledmatrix_mqtt.runtime.render_loop import RenderLoop
from ledmatrix_mqtt.runtime.rendering import RENDER_TIMEOUT_S, RenderWatchdog
from ledmatrix_mqtt.runtime.schedule_driver import ScheduleDriver
from ledmatrix_mqtt.runtime.scheduler import UpdateScheduler
from ledmatrix_mqtt.runtime.snapshot import (
    HARDWARE_SNAPSHOT_INTERVAL_S,
    SNAPSHOT_INTERVAL_S,
    SNAPSHOT_NAME,
    FrameSnapshot,
)
from ledmatrix_mqtt.runtime.spec import PluginSpec
from ledmatrix_mqtt.runtime.takeover import Takeover

_LOG = logging.getLogger(__name__)
Listener = Callable[[str], None]


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _LOG.warning("unknown timezone %r; using UTC", name)
        return dt.UTC


class DisplayController(RenderLoop):
    """Runs the rotation on a panel backend. Every public method is thread-safe and quick."""

    def __init__(
        self,
        display_config: DisplayConfig,
        *,
        device: DeviceConfig,
        state_dir: Path,
        backend: PanelBackend | None = None,
        service_info: Callable[[], Mapping[str, Any]] | None = None,
        wall_clock: Callable[[], float] = time.time,
        update_timeout: float = 30.0,
        render_timeout: float = RENDER_TIMEOUT_S,
        main_config: Mapping[str, Any] | None = None,
        load_timeout: float = LOAD_TIMEOUT_S,
        schedule: Mapping[str, Any] | None = None,
        dim_schedule: Mapping[str, Any] | None = None,
    ) -> None:
        """``schedule``/``dim_schedule``: LEDMatrix-shaped blocks (``AppConfig.schedule``)."""
        self._display = display_config
        self._device = device
        self._wall = wall_clock
        self._wall_offset = wall_clock() - time.monotonic()  # fixed: stable `since` values
        self._tz = _zone(device.timezone)
        self._backend = backend or select_backend(display_config, Path(state_dir))
        interval = (
            HARDWARE_SNAPSHOT_INTERVAL_S
            if self._backend.name == "hardware"
            else SNAPSHOT_INTERVAL_S
        )
        snapshot = FrameSnapshot(Path(state_dir) / SNAPSHOT_NAME, interval)
        self.frames = FrameStore(
            self._backend, display_config.width, display_config.height, snapshot
        )
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rotation = rot.RotationState()
        self._advance = False
        self._power = True
        self._brightness = display_config.brightness
        self._day_brightness = display_config.brightness  # restored when dim hours end
        self._dimmed = False
        self._schedule = ScheduleDriver(schedule, dim_schedule)
        self._text = ""
        self._rendered: tuple[rot.Slot | None, float] = (None, 0.0)
        self._empty_streak = 0
        self.scheduler = UpdateScheduler(timeout=update_timeout)
        self._watchdog = RenderWatchdog(render_timeout)
        self._service_info = service_info or (lambda: {})
        env = LoadEnvironment(
            width=display_config.width, height=display_config.height,
            device_name=device.name, timezone=device.timezone, state_dir=Path(state_dir),
            main_config=main_config or {"timezone": device.timezone},
            service_info=self._plugin_service_info, text=self.text,
        )  # fmt: skip
        self.plugins = PluginTable(
            env, self.scheduler, default_duration=display_config.default_duration,
            order=display_config.rotation_order, on_change=self._wake.set,
            on_status=lambda: self._notify("plugins"), load_timeout=load_timeout,
        )  # fmt: skip
        self.plugins.sink_factory = self._live_sink
        painter = NotificationPainter(display_config.width, display_config.height)
        self._takeover = Takeover(painter, self.plugins, self._eligible)
        self._on_panel = ""  # the plugin whose frames reach the panel now
        self._backend.set_brightness(self._brightness)

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the render and update threads; returns at once."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.scheduler.start()
        self._thread = threading.Thread(target=self._render_loop, name="render", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop both threads, ``cleanup()`` every plugin, blank the panel."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.scheduler.stop()
        self.plugins.unload_all()
        self.frames.blank()
        self.frames.close()
        self._backend.clear()
        self._backend.close()

    def sync_plugins(self, specs: Sequence[PluginSpec]) -> None:
        """Unload removed plugins and start loading new or changed ones in the background.

        Returns within about half a second whatever the plugins do; a plugin joins
        the rotation when its load finishes (see ``PluginTable``).
        """
        self.plugins.sync(specs)
        self._notify("state")

    def hold_loads(self) -> None:
        """Plugin loads started from now on wait for ``release_loads`` (start-up: the
        service gets online first on a slow CPU); ``sync_plugins`` does not wait for them."""
        self.plugins.hold_loads()

    def release_loads(self, plugin_ids: Collection[str] | None = None) -> None:
        """Let the held loads go: all of them, or only those of ``plugin_ids``."""
        self.plugins.release_loads(plugin_ids)

    def wait_loaded(self, timeout: float) -> bool:
        """Wait until no plugin load is in flight (hung ones excepted); False on timeout."""
        return self.plugins.wait_idle(timeout)

    def unload(self, plugin_id: str) -> None:
        """Unload ``plugin_id`` (its ``cleanup()`` has run when this returns)."""
        self.plugins.unload(plugin_id)
        self._notify("state")

    def set_rotation_order(self, order: Sequence[str]) -> None:
        """Rotate these plugins first, in this order (the rest by id); the current one keeps
        its dwell and the next comes from the new order."""
        self.plugins.set_order(order)

    # DisplayApi --------------------------------------------------------------------------
    def state(self) -> DisplayState:
        with self._lock:
            current = self._rotation
            power, brightness = self._power, self._brightness
        offset = self._wall_offset
        slot = current.slot
        pinned_until: float | None = None
        if current.pin is not None:  # 0.0 means "until resume"
            pinned_until = 0.0 if current.pin.until is None else current.pin.until + offset
        live = self._takeover.live_plugin()
        return DisplayState(
            power=power,
            brightness=brightness,
            current_plugin=live or (slot.plugin_id if slot else ""),
            current_mode=slot.mode if slot else "",
            since=current.started_at + offset if slot else 0.0,
            pinned_until=pinned_until,
            backend=self._backend.name,
        )

    def show(self, plugin_id: str, duration: float | None = None) -> DisplayState:
        """Hold ``plugin_id`` for ``duration`` s (None: until ``resume``)."""
        plugin = self.plugins.get(plugin_id)
        if plugin is None:
            raise NotInstalled(f"plugin {plugin_id!r} is not loaded")
        if plugin.health.in_cooldown(time.monotonic()):
            error = plugin.health.snapshot().last_error
            raise Busy(f"plugin {plugin_id!r} is skipped after failing ({error}); try later")
        if duration is not None and (isinstance(duration, bool) or not duration > 0):
            raise InvalidPayload("duration must be a positive number of seconds")
        now = time.monotonic()
        with self._lock:
            until = None if duration is None else now + float(duration)
            pinned = rot.pin(self._rotation, plugin_id, until)
            self._rotation = self._choose(pinned, now, advance=False)
        return self._changed()

    def resume(self) -> DisplayState:
        with self._lock:
            was_pinned = self._rotation.pin is not None
            self._rotation = self._choose(
                rot.unpin(self._rotation), time.monotonic(), advance=was_pinned
            )
        return self._changed()

    def next(self) -> DisplayState:
        """Skip to the next plugin (dropping any pin)."""
        with self._lock:
            self._rotation = self._choose(rot.unpin(self._rotation), time.monotonic(), advance=True)
        return self._changed()

    def set_brightness(self, value: int) -> DisplayState:
        """Stands until the next schedule edge (see ``schedule_driver``)."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise InvalidPayload("brightness must be an integer from 0 to 100")
        with self._lock:
            self._brightness = value
            if not self._dimmed:
                self._day_brightness = value
        self.frames.set_brightness(value)
        return self._changed()

    def set_power(self, on: bool) -> DisplayState:
        """Stands until the next schedule edge (see ``schedule_driver``)."""
        with self._lock:
            self._power = bool(on)
        return self._changed()

    # notifications -----------------------------------------------------------------------
    def notify(self, notification: Notification) -> NotificationState:
        """Show ``notification`` now (higher priority than the one showing) or queue it.

        ``Busy`` when the queue is full. The rotation pauses and later resumes where it was.
        """
        state = self._takeover.notify(notification, time.monotonic())
        self._changed()
        return state

    def dismiss(self, notification_id: str | None = None) -> NotificationState:
        """Remove one notification (``NotFound`` if unknown), or all of them with None."""
        state = self._takeover.dismiss(notification_id, time.monotonic())
        self._changed()
        return state

    def notifications(self) -> NotificationState:
        return self._takeover.notifications()

    # schedules ---------------------------------------------------------------------------
    def schedule_state(self) -> ScheduleState:
        return self._schedule.state(dt.datetime.fromtimestamp(self._wall(), self._tz))

    def set_schedule(
        self,
        schedule: Mapping[str, Any] | None = None,
        dim_schedule: Mapping[str, Any] | None = None,
    ) -> ScheduleState:
        """Replace the active hours and/or the dim schedule (LEDMatrix shapes; None keeps
        one); applied at once. ``ConfigError`` naming the key if a block is invalid."""
        self._schedule.set(schedule, dim_schedule)
        self._changed()
        return self.schedule_state()

    def set_text(self, text: str) -> None:
        if not isinstance(text, str):
            raise InvalidPayload("text must be a string")
        with self._lock:
            self._text = clean_text(text, 1000)
        self._changed()

    def text(self) -> str:
        with self._lock:
            return self._text

    def frame_png(self) -> bytes:
        return self.frames.png()

    def frame_image(self) -> Image.Image:
        return self.frames.image()

    def runtime_status(self) -> Sequence[PluginRuntimeStatus]:
        return self.plugins.status()

    def rotation(self) -> Sequence[str]:
        return self.plugins.loaded_ids()

    def add_listener(self, callback: Listener) -> None:
        """``callback(kind)``: ``"state"`` (display state), ``"frame"`` (a new frame),
        ``"plugins"`` (a plugin's health changed). Called on the runtime's threads."""
        with self._lock:
            self._listeners.append(callback)

    # internals ---------------------------------------------------------------------------
    def _plugin_service_info(self) -> Mapping[str, Any]:
        """``service_info`` plus ``plugin_count``: every plugin ``runtime_status`` lists
        (installed, built-ins included, enabled or not), as the state/plugins count."""
        info = dict(self._service_info())
        info["plugin_count"] = len(self.plugins.status())
        return info

    def _eligible(self, plugin_id: str) -> bool:
        plugin = self.plugins.get(plugin_id)
        return plugin is not None and not plugin.health.in_cooldown(time.monotonic())

    def _choose(self, state: rot.RotationState, now: float, *, advance: bool) -> rot.RotationState:
        return rot.choose(
            state, self.plugins.slots(), now, eligible=self._eligible, advance=advance
        )

    def _changed(self) -> DisplayState:
        self._wake.set()
        self._notify("state")
        return self.state()

    def _notify(self, kind: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(kind)
            except Exception:  # a broken listener must not stop the display
                _LOG.exception("display listener failed on %r", kind)
