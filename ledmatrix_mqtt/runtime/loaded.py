"""A loaded plugin behind one interface, whichever API it was written against.

``LoadedPlugin`` is what the scheduler and the render loop drive: ``update()``,
``render()`` (returns a frame, or None for "no content"), ``slots()``,
``fps()``, ``cleanup()``. ``lock`` serialises update and render of the same
plugin; ``health`` records how both went. ``abandoned`` is set when a call
that holds ``lock`` timed out (it may still hold it); whoever next acquires
the lock clears it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from PIL import Image

from ledmatrix_mqtt.runtime.compat.base_plugin import BasePlugin
from ledmatrix_mqtt.runtime.display_surface import DisplaySurface
from ledmatrix_mqtt.runtime.health import PluginHealth
from ledmatrix_mqtt.runtime.imports import PluginModules
from ledmatrix_mqtt.runtime.plugin_api import RenderContext, blank_frame
from ledmatrix_mqtt.runtime.plugin_config import plugin_secrets, redact
from ledmatrix_mqtt.runtime.rotation import Slot, positive_duration
from ledmatrix_mqtt.runtime.spec import PluginSpec

DEFAULT_UPDATE_INTERVAL_S = 60.0
# What plugin code may raise at the runtime: SystemExit (a plugin calling sys.exit())
# is not an Exception and would otherwise end the render or update thread.
PLUGIN_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit)
HIGH_FPS = 60.0
FrameSink = Callable[[Image.Image], None]


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    frame = image if image.mode == "RGB" else image.convert("RGB")
    if frame.size != (width, height):
        canvas = blank_frame(width, height)
        canvas.paste(frame, (0, 0))
        frame = canvas
    return frame


class LoadedPlugin(ABC):
    """One plugin instance in the runtime."""

    def __init__(
        self, spec: PluginSpec, instance: Any, modules: PluginModules, config: dict[str, Any]
    ) -> None:
        self.spec = spec
        self.instance = instance
        self.modules = modules
        self.config = config
        self.lock = threading.Lock()
        self.abandoned = False  # a timed-out update()/render may still hold ``lock``
        self.unloaded = False  # set under ``lock`` before cleanup(): never render after it
        self.health = PluginHealth()
        self.last_frame: Image.Image | None = None
        self.secrets = plugin_secrets(spec.path, config)
        self.live_modes: tuple[str, ...] = ()  # non-empty while it claims the panel

    def refresh_live(self) -> None:
        """Ask the plugin whether it takes over the panel now (LEDMatrix live priority).

        Live iff ``has_live_priority()`` and ``has_live_content()`` are true and the
        user has not set ``live_priority: false``; the modes shown are
        ``get_live_modes()`` (default: all its modes). Called with ``lock`` held, off
        the render thread (after each ``update()``): plugin code may block.
        """
        wants = getattr(self.instance, "has_live_priority", None)
        has = getattr(self.instance, "has_live_content", None)
        live = (
            self.config.get("live_priority") is not False
            and callable(wants) and callable(has) and bool(wants()) and bool(has())
        )  # fmt: skip
        if not live:
            self.live_modes = ()
            return
        named = getattr(self.instance, "get_live_modes", None)
        own = named() if callable(named) else None
        modes = self.modes()
        chosen = tuple(m for m in own if m in modes) if isinstance(own, list | tuple) else ()
        self.live_modes = chosen or modes

    def failure(self, what: str, exc: BaseException) -> str:
        """``"<what> failed: Type: message"`` (at most 300 chars) without x-secret values.

        Plugin errors are logged and published on MQTT; plugin code often puts its
        API key in an exception (a URL with ``?key=...``).
        """
        return redact(f"{what} failed: {type(exc).__name__}: {exc}", self.secrets)[:300]

    @property
    def plugin_id(self) -> str:
        return self.spec.id

    def update_interval(self) -> float | None:
        """Seconds between updates (manifest -> config -> 60 s); None if it has no update()."""
        if not callable(getattr(self.instance, "update", None)):
            return None
        if self.spec.manifest.update_interval:
            return self.spec.manifest.update_interval
        return positive_duration(self.config.get("update_interval"), DEFAULT_UPDATE_INTERVAL_S)

    def modes(self) -> tuple[str, ...]:
        own = getattr(self.instance, "modes", None)
        if isinstance(own, list | tuple) and own and all(isinstance(m, str) for m in own):
            return tuple(own)
        return self.spec.manifest.display_modes or (self.plugin_id,)

    def slots(self, default_duration: float) -> list[Slot]:
        duration = self.duration(default_duration)
        return [Slot(self.plugin_id, mode, duration) for mode in self.modes()]

    def update(self) -> None:
        self.instance.update()

    def cleanup(self) -> None:
        hook = getattr(self.instance, "cleanup", None)
        if callable(hook):
            hook()

    def set_sink(self, sink: FrameSink | None) -> None:
        """Where frames committed outside ``render()``'s return go (LEDMatrix only)."""
        del sink  # native plugins only ever return their frame

    @abstractmethod
    def duration(self, default: float) -> float: ...

    @abstractmethod
    def fps(self) -> float: ...

    def next_frame_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the frame rendered at ``now`` next changes; None: re-render at ``fps``.

        Called right after ``render`` under the plugin's lock; exceptions propagate.
        """
        del now
        return None

    @abstractmethod
    def render(
        self, mode: str, now: dt.datetime, elapsed: float, force_clear: bool
    ) -> Image.Image | None:
        """The frame to show, or None for "no content". Exceptions propagate."""


class LoadedNative(LoadedPlugin):
    def __init__(
        self,
        spec: PluginSpec,
        instance: Any,
        modules: PluginModules,
        config: dict[str, Any],
        size: tuple[int, int],
    ) -> None:
        super().__init__(spec, instance, modules, config)
        self.width, self.height = size

    def duration(self, default: float) -> float:
        value = self.config.get("display_duration", getattr(self.instance, "display_duration", 0))
        return positive_duration(value, default)

    def fps(self) -> float:
        return positive_duration(getattr(self.instance, "fps", 1.0), 1.0)

    def next_frame_at(self, now: dt.datetime) -> dt.datetime | None:
        hook = getattr(self.instance, "next_frame_at", None)
        due = hook(now) if callable(hook) else None
        if not isinstance(due, dt.datetime) or due.tzinfo is None:
            return None  # absent, or not an aware time: the plugin's fps decides
        return due

    def render(
        self, mode: str, now: dt.datetime, elapsed: float, force_clear: bool
    ) -> Image.Image | None:
        image = blank_frame(self.width, self.height)
        ctx = RenderContext(self.width, self.height, now, mode, elapsed, image, force_clear)
        result = self.instance.render(ctx)
        if result is False:
            return None
        if isinstance(result, Image.Image):
            return _fit(result, self.width, self.height)
        return image


class LoadedLedMatrix(LoadedPlugin):
    """A plugin written against LEDMatrix's ``BasePlugin``, drawing on its own surface."""

    def __init__(
        self,
        spec: PluginSpec,
        instance: Any,
        modules: PluginModules,
        config: dict[str, Any],
        surface: DisplaySurface,
    ) -> None:
        super().__init__(spec, instance, modules, config)
        self.surface = surface
        params = inspect.signature(instance.display).parameters
        self._takes_mode = "display_mode" in params

    def duration(self, default: float) -> float:
        base_hook = type(self.instance).get_display_duration is BasePlugin.get_display_duration
        unset = "display_duration" not in self.config and not hasattr(
            self.instance, "display_duration"
        )
        if base_hook and unset:
            return default  # display.default_duration, where LEDMatrix hard-coded 15 s
        return positive_duration(self.instance.get_display_duration(), default)

    def fps(self) -> float:
        wants_speed = (
            bool(getattr(self.instance, "needs_high_fps", False))
            or bool(getattr(self.instance, "enable_scrolling", False))
            or self.surface.is_scrolling
        )
        return HIGH_FPS if wants_speed else 1.0

    def set_sink(self, sink: FrameSink | None) -> None:
        self.surface.sink = sink

    def render(
        self, mode: str, now: dt.datetime, elapsed: float, force_clear: bool
    ) -> Image.Image | None:
        before, _ = self.surface.take_commit()
        if self._takes_mode:
            result = self.instance.display(force_clear=force_clear, display_mode=mode)
        else:
            result = self.instance.display(force_clear=force_clear)
        if result is False:
            return None
        after, frame = self.surface.take_commit()
        if after == before or frame is None:
            return _fit(self.surface.image, self.surface.width, self.surface.height).copy()
        return frame

    def cleanup(self) -> None:
        super().cleanup()
        hook = getattr(self.instance, "on_disable", None)
        if callable(hook):
            hook()
