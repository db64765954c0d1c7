"""render_slot and the render watchdog: a call that timed out never leaves a stale frame up."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ledmatrix_mqtt import BUILTIN_PLUGINS_DIR
from ledmatrix_mqtt.runtime.loaded import LoadedPlugin
from ledmatrix_mqtt.runtime.loader import LoadEnvironment, load_plugin
from ledmatrix_mqtt.runtime.rendering import (
    BOUNDARY_MARGIN_S,
    MAX_STATIC_WAIT_S,
    RenderWatchdog,
    render_slot,
)
from ledmatrix_mqtt.runtime.scheduler import UpdateScheduler
from ledmatrix_mqtt.runtime.spec import spec_from_folder
from tests.support.waiting import wait_until

WALL = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

STUCK_PLUGIN = """
import threading


class Stuck:
    def __init__(self, host):
        self.release = threading.Event()
        self.hang_render = False
        self.hang_update = False
        self.exit_in = ""

    def update(self):
        if self.exit_in == "update":
            raise SystemExit(3)
        if self.hang_update:
            self.release.wait()

    def render(self, ctx):
        if self.exit_in == "render":
            raise SystemExit(3)
        if self.hang_render:
            self.release.wait()
        ctx.image.paste((255, 0, 0), (0, 0, ctx.width, ctx.height))
"""


def _stuck(tmp_path: Path) -> LoadedPlugin:
    folder = tmp_path / "stuck"
    folder.mkdir()
    manifest = {
        "id": "stuck", "name": "Stuck", "version": "1.0.0", "api": "native",
        "class_name": "Stuck", "entry_point": "stuck.py", "display_modes": ["stuck"],
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "stuck.py").write_text(STUCK_PLUGIN)
    env = LoadEnvironment(64, 32, "T", "UTC", tmp_path / "state")
    return load_plugin(spec_from_folder(folder, {}), env)


def _lock_is_free(plugin: LoadedPlugin) -> bool:
    if plugin.lock.acquire(blocking=False):
        plugin.lock.release()
        return True
    return False


def test_render_that_timed_out_is_skipped_while_stuck_not_shown_as_a_stale_frame(
    tmp_path,
) -> None:
    """After its cool-down a plugin whose display() is still blocked came back and its
    last good frame was re-shown for the whole dwell (4 pushes a second), as if alive."""
    plugin = _stuck(tmp_path)
    watchdog = RenderWatchdog(timeout=0.2)
    first = render_slot(plugin, "stuck", WALL, 0.0, True, watchdog)
    assert first.frame is not None and not first.skip
    plugin.instance.hang_render = True
    timed_out = render_slot(plugin, "stuck", WALL, 0.0, True, watchdog)
    assert timed_out.skip and timed_out.frame is None
    assert "timed out" in plugin.health.snapshot().last_error
    # the cool-down is the controller's business; render_slot is asked again once it ends
    again = render_slot(plugin, "stuck", WALL, 0.0, True, watchdog)
    assert again.skip and again.frame is None
    plugin.instance.hang_render = False
    plugin.instance.release.set()
    assert wait_until(lambda: _lock_is_free(plugin))
    recovered = render_slot(plugin, "stuck", WALL, 0.0, True, watchdog)
    assert recovered.frame is not None and not recovered.skip


def test_update_that_timed_out_is_skipped_not_shown_as_a_stale_frame(tmp_path) -> None:
    """A hung update() keeps the plugin's lock forever; the render loop re-showed its
    last frame every time it came round instead of skipping it."""
    plugin = _stuck(tmp_path)
    assert render_slot(plugin, "stuck", WALL, 0.0, True).frame is not None
    plugin.instance.hang_update = True
    scheduler = UpdateScheduler(timeout=0.2)
    scheduler.track(plugin)
    scheduler.start()
    try:
        assert wait_until(lambda: "timed out" in plugin.health.snapshot().last_error)
        outcome = render_slot(plugin, "stuck", WALL, 0.0, True)
        assert outcome.skip and outcome.frame is None
        plugin.instance.hang_update = False
        plugin.instance.release.set()
        assert wait_until(lambda: not scheduler.is_updating("stuck"))
        assert render_slot(plugin, "stuck", WALL, 0.0, True).frame is not None
    finally:
        plugin.instance.release.set()
        scheduler.stop()


def test_plugin_calling_sys_exit_in_render_is_a_render_failure_not_the_end_of_the_loop(
    tmp_path,
) -> None:
    """SystemExit is not an Exception: a plugin's display() calling sys.exit() went past
    every handler and ended the render thread, freezing the panel for good."""
    plugin = _stuck(tmp_path)
    plugin.instance.exit_in = "render"
    for watchdog in (RenderWatchdog(timeout=2.0), None):
        outcome = render_slot(plugin, "stuck", WALL, 0.0, True, watchdog)
        assert outcome.skip and outcome.frame is None
        assert "SystemExit" in plugin.health.snapshot().last_error


def test_plugin_calling_sys_exit_in_update_is_recorded_as_a_failure(tmp_path) -> None:
    """The update worker ended silently on SystemExit: no failure was recorded, the
    plugin looked healthy and was relaunched on every scheduler wake-up."""
    plugin = _stuck(tmp_path)
    plugin.instance.exit_in = "update"
    scheduler = UpdateScheduler(timeout=5.0)
    scheduler.track(plugin)
    scheduler.start()
    try:
        assert wait_until(lambda: "SystemExit" in plugin.health.snapshot().last_error)
    finally:
        scheduler.stop()


def test_a_plugin_unloaded_between_lookup_and_lock_is_not_rendered(tmp_path) -> None:
    """The render thread may look a plugin up just before ``_unload`` takes its lock and
    runs ``cleanup()``; once unloaded it must never render again."""
    plugin = _stuck(tmp_path)
    plugin.unloaded = True  # what _unload sets under the lock before cleanup()
    outcome = render_slot(plugin, "stuck", WALL, 0.0, False, RenderWatchdog(1.0))
    assert outcome.skip and outcome.frame is None
    assert plugin.lock.acquire(blocking=False), "the lock was released"
    plugin.lock.release()


def test_held_frame_of_a_fast_plugin_is_retried_at_its_frame_rate(tmp_path) -> None:
    """A scrolling plugin whose quick update() held the lock waited a fixed 0.25 s before
    the next try, a visible stall every update_interval (bench/frame_jitter_install.py
    showed 0.5 s gaps while installs ran)."""
    plugin = _stuck(tmp_path)
    plugin.instance.fps = 30
    assert render_slot(plugin, "stuck", WALL, 0.0, True).frame is not None  # a last frame
    plugin.lock.acquire()  # what a running update() does
    try:
        held = render_slot(plugin, "stuck", WALL, 0.0, False)
    finally:
        plugin.lock.release()
    assert held.frame is not None and not held.skip
    assert held.next_frame_in <= 1 / 30 + 0.001


def _clock(tmp_path: Path) -> LoadedPlugin:
    env = LoadEnvironment(64, 32, "T", "UTC", tmp_path / "state")
    return load_plugin(spec_from_folder(BUILTIN_PLUGINS_DIR / "clock", {}), env)


def test_static_clock_is_rendered_again_at_the_next_minute_not_every_second(tmp_path) -> None:
    """The HH:MM clock (fps 1) was re-rendered every second though its frame changes once a
    minute: most of the service's idle CPU."""
    clock = _clock(tmp_path)
    wall = dt.datetime(2024, 1, 1, 12, 0, 55, 250_000, tzinfo=dt.UTC)
    outcome = render_slot(clock, "clock", wall, 0.0, True)
    assert outcome.frame is not None
    assert 4.5 < outcome.next_frame_in <= 4.75 + BOUNDARY_MARGIN_S


def test_a_frame_declared_static_is_still_rerendered_within_the_wall_clock_bound(
    tmp_path,
) -> None:
    """A wall-clock jump (NTP after boot) must not leave a clock stale for a minute."""
    clock = _clock(tmp_path)
    wall = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    outcome = render_slot(clock, "clock", wall, 0.0, True)
    assert MAX_STATIC_WAIT_S - 0.5 < outcome.next_frame_in <= MAX_STATIC_WAIT_S


def test_a_naive_next_frame_time_falls_back_to_the_frame_rate(tmp_path) -> None:
    plugin = _stuck(tmp_path)
    plugin.instance.fps = 10
    plugin.instance.next_frame_at = lambda now: dt.datetime(2030, 1, 1)  # naive: ignored
    outcome = render_slot(plugin, "stuck", WALL, 0.0, True)
    assert outcome.frame is not None and outcome.next_frame_in <= 0.1


def test_a_next_frame_hook_that_raises_counts_as_a_failed_render(tmp_path) -> None:
    plugin = _stuck(tmp_path)

    def broken(now: dt.datetime) -> dt.datetime:
        raise ValueError("no idea")

    plugin.instance.next_frame_at = broken
    outcome = render_slot(plugin, "stuck", WALL, 0.0, True, RenderWatchdog(1.0))
    assert outcome.skip and outcome.frame is None
    assert not plugin.health.snapshot().healthy
    assert _lock_is_free(plugin)
