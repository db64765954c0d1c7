"""One render of one plugin, with the failure rules of the display loop.

- the plugin's lock is only try-acquired: if its ``update()`` holds it, the
  plugin's last frame is shown again (or the slot skipped if it has none);
  if a call that timed out (a hung ``update()`` or render) still holds it,
  the slot is skipped: a stale frame never stands in for a stuck plugin;
- ``None`` from the plugin (LEDMatrix ``display()`` returning False) is "no
  content": skip to the next plugin;
- an exception is *not* swallowed into "no content" as LEDMatrix did: the plugin
  is marked unhealthy and cools down, and the rotation moves on at once;
- a render that does not return within ``RENDER_TIMEOUT_S`` (a LEDMatrix
  ``display()`` blocking on the network, say) is abandoned: the call runs on a
  watchdog thread, the render thread moves on, the plugin is marked unhealthy
  and cools down, and it keeps its lock until the stuck call returns, so
  neither its ``update()`` nor another render of it can run alongside.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ledmatrix_mqtt.runtime.loaded import PLUGIN_ERRORS, LoadedPlugin

_LOG = logging.getLogger(__name__)
HELD_FRAME_RETRY_S = 0.25
RENDER_TIMEOUT_S = 2.0
# The longest a frame a plugin declared unchanging waits for a re-render: bounds how
# long a wall-clock jump (NTP sync after boot on a Pi without RTC) leaves it stale.
MAX_STATIC_WAIT_S = 10.0
BOUNDARY_MARGIN_S = 0.002  # re-render just after the boundary, not just before it


class RenderTimeout(Exception):
    """A render call did not return in time (it keeps running on its own thread)."""


class RenderWatchdog:
    """Runs render calls on a daemon helper thread and waits a bounded time.

    A call that times out leaves its thread behind (Python threads cannot be
    killed); the next call gets a fresh thread, so one hung plugin never stops
    the others.
    """

    def __init__(self, timeout: float = RENDER_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] | None = None
        self.abandoned = 0

    def call(self, fn: Callable[[], Any]) -> Any:
        if self._jobs is None:
            self._jobs = queue.Queue()
            threading.Thread(
                target=_serve, args=(self._jobs,), name="render-call", daemon=True
            ).start()
        answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._jobs.put((fn, answer))
        try:
            ok, value = answer.get(timeout=self.timeout)
        except queue.Empty:
            self._jobs.put_nowait((_stop_worker, queue.Queue(maxsize=1)))  # ends it once unstuck
            self._jobs = None
            self.abandoned += 1
            raise RenderTimeout(f"render did not return within {self.timeout:g} s") from None
        if not ok:
            raise value
        return value


def _stop_worker() -> None:
    raise _StopWorker


class _StopWorker(Exception):
    pass


def _serve(jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]]) -> None:
    while True:
        fn, answer = jobs.get()
        try:
            answer.put((True, fn()))
        except _StopWorker:
            return
        except BaseException as exc:  # handed to the render thread, which decides
            answer.put((False, exc))


@dataclass(frozen=True)
class RenderOutcome:
    frame: Image.Image | None
    skip: bool = False  # move on to the next slot now
    next_frame_in: float = 1.0
    due: dt.datetime | None = None  # the plugin said: this frame holds until then (wall time)


def _frame_interval(plugin: LoadedPlugin, wall: dt.datetime) -> float:
    try:
        fps = plugin.fps()
    except PLUGIN_ERRORS:  # plugin attribute access
        fps = 1.0
    if fps <= 1.0:
        # 1 fps plugins (clocks) are re-rendered just after each second boundary
        return 1.0 - wall.microsecond / 1_000_000 + BOUNDARY_MARGIN_S
    return 1.0 / fps


def _until(due: dt.datetime, wall: dt.datetime) -> float:
    """Seconds from ``wall`` to just after ``due`` (a plugin's next change), bounded."""
    return min(MAX_STATIC_WAIT_S, max(0.0, (due - wall).total_seconds()) + BOUNDARY_MARGIN_S)


def render_slot(
    plugin: LoadedPlugin,
    mode: str,
    wall: dt.datetime,
    elapsed: float,
    force_clear: bool,
    watchdog: RenderWatchdog | None = None,
) -> RenderOutcome:
    if not plugin.lock.acquire(blocking=False):
        held = plugin.last_frame
        if held is None or plugin.abandoned:
            return RenderOutcome(None, skip=True)
        # retry at the plugin's own frame rate (capped): a scrolling plugin whose quick
        # update() holds the lock must not stall for a fixed quarter second
        retry = min(HELD_FRAME_RETRY_S, _frame_interval(plugin, wall))
        return RenderOutcome(held, next_frame_in=retry)
    if plugin.unloaded:  # looked up just before an unload took the lock
        plugin.lock.release()
        return RenderOutcome(None, skip=True)
    plugin.abandoned = False  # whatever held the lock has returned
    started = time.monotonic()

    def locked_render() -> tuple[Image.Image | None, dt.datetime | None]:
        try:
            frame = plugin.render(mode, wall, elapsed, force_clear)
            return frame, (plugin.next_frame_at(wall) if frame is not None else None)
        finally:
            plugin.lock.release()  # by whichever thread the call finishes on

    try:
        frame, due = watchdog.call(locked_render) if watchdog else locked_render()
    except PLUGIN_ERRORS as exc:  # recorded as the plugin's failure below
        if isinstance(exc, RenderTimeout):
            plugin.abandoned = True
            message = f"render timed out: {exc}"
        else:
            message = plugin.failure("render", exc)
        _LOG.warning("%s: %s; skipping it", plugin.plugin_id, message)
        plugin.health.record_render_failure(time.monotonic(), message)
        return RenderOutcome(None, skip=True)
    if frame is None:
        return RenderOutcome(None, skip=True)
    plugin.health.record_render_success()
    plugin.last_frame = frame
    spent = time.monotonic() - started
    interval = _until(due, wall) if due is not None else _frame_interval(plugin, wall)
    return RenderOutcome(frame, next_frame_in=max(0.0, interval - spent), due=due)
