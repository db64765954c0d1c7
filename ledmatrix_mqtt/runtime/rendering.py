"""One render of one plugin, with the failure rules of the display loop.

- the plugin's lock is only try-acquired: if its ``update()`` holds it, the
  plugin's last frame is shown again (or the slot skipped if it has none);
- ``None`` from the plugin (LEDMatrix ``display()`` returning False) is "no
  content": skip to the next plugin;
- an exception is *not* swallowed into "no content" as LEDMatrix did: the plugin
  is marked unhealthy and cools down, and the rotation moves on at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from PIL import Image

from ledmatrix_mqtt.runtime.loaded import LoadedPlugin

_LOG = logging.getLogger(__name__)
HELD_FRAME_RETRY_S = 0.25


@dataclass(frozen=True)
class RenderOutcome:
    frame: Image.Image | None
    skip: bool = False  # move on to the next slot now
    next_frame_in: float = 1.0


def _frame_interval(plugin: LoadedPlugin, wall: dt.datetime) -> float:
    try:
        fps = plugin.fps()
    except Exception:  # plugin attribute access
        fps = 1.0
    if fps <= 1.0:
        # 1 fps plugins (clocks) are re-rendered just after each second boundary
        return 1.0 - wall.microsecond / 1_000_000 + 0.002
    return 1.0 / fps


def render_slot(
    plugin: LoadedPlugin, mode: str, wall: dt.datetime, elapsed: float, force_clear: bool
) -> RenderOutcome:
    if not plugin.lock.acquire(blocking=False):
        held = plugin.last_frame
        if held is None:
            return RenderOutcome(None, skip=True)
        return RenderOutcome(held, next_frame_in=HELD_FRAME_RETRY_S)
    started = time.monotonic()
    try:
        frame = plugin.render(mode, wall, elapsed, force_clear)
    except Exception as exc:  # recorded as the plugin's failure below
        message = plugin.failure("render", exc)
        _LOG.warning("%s: %s; skipping it", plugin.plugin_id, message)
        plugin.health.record_render_failure(time.monotonic(), message)
        return RenderOutcome(None, skip=True)
    finally:
        plugin.lock.release()
    if frame is None:
        return RenderOutcome(None, skip=True)
    plugin.health.record_render_success()
    plugin.last_frame = frame
    spent = time.monotonic() - started
    return RenderOutcome(frame, next_frame_in=max(0.0, _frame_interval(plugin, wall) - spent))
