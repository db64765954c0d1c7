"""The native plugin API (manifest ``"api": "native"``).

A native plugin is a class constructed as ``Cls(host)`` with

- ``update() -> None`` (optional): fetch data; runs on the update thread, never
  concurrently with ``render`` of the same plugin;
- ``render(ctx) -> Image | bool | None``: return a Pillow image of the panel
  size, or draw into ``ctx.image`` and return None/True; ``False`` means "no
  content now" and the rotation moves on;
- optional attributes: ``fps`` (frames per second wanted now, default 1),
  ``display_duration`` (seconds), ``modes`` (display modes), ``cleanup()``;
- optional ``next_frame_at(now) -> datetime | None``: called right after a
  render with the same ``now``; the aware wall time at which the frame next
  changes (a clock: the next minute). The runtime re-renders just after it
  (and at the latest 10 s later, in case the wall clock jumps) instead of at
  ``fps``; None means "use ``fps``". An exception counts as a failed render.

Plugins never touch hardware: the runtime owns the panel.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image, ImageDraw

from ledmatrix_mqtt.runtime import fonts


@dataclass(frozen=True)
class PluginHost:
    """What a native plugin gets at construction. Calls are cheap and thread-safe."""

    plugin_id: str
    config: Mapping[str, Any]
    width: int
    height: int
    device_name: str
    timezone: str
    data_dir: Path
    logger: logging.Logger
    service_info: Callable[[], Mapping[str, Any]] = field(default=lambda: {})
    text: Callable[[], str] = field(default=lambda: "")


@dataclass(frozen=True)
class RenderContext:
    """One frame request. ``image`` is a fresh black RGB canvas of the panel size."""

    width: int
    height: int
    now: dt.datetime  # timezone-aware, in the device timezone
    mode: str
    elapsed: float  # seconds since this slot started (for scrolling)
    image: Image.Image
    force_clear: bool = False

    def draw(self) -> ImageDraw.ImageDraw:
        """A crisp (non anti-aliased) drawing handle on ``image``."""
        return fonts.crisp_draw(self.image)


@runtime_checkable
class NativePlugin(Protocol):
    def render(self, ctx: RenderContext) -> Image.Image | bool | None: ...


def blank_frame(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), (0, 0, 0))
