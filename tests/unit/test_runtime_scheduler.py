"""The update scheduler: off-thread updates, real timeouts, cool-downs, no overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledmatrix_mqtt.runtime.health import PluginHealth
from ledmatrix_mqtt.runtime.loaded import LoadedPlugin
from ledmatrix_mqtt.runtime.loader import LoadEnvironment, load_plugin
from ledmatrix_mqtt.runtime.scheduler import UpdateScheduler
from tests.support.ledmatrix_style_plugins import fixture_spec
from tests.support.waiting import wait_until


def _load(tmp_path: Path, plugin_id: str, config: dict) -> LoadedPlugin:
    env = LoadEnvironment(64, 32, "T", "UTC", tmp_path / "state")
    return load_plugin(fixture_spec(plugin_id, tmp_path, config), env)


@contextmanager
def running(*plugins: LoadedPlugin, timeout: float) -> Iterator[UpdateScheduler]:
    """A started scheduler tracking ``plugins``, stopped on exit."""
    scheduler = UpdateScheduler(timeout=timeout)
    for plugin in plugins:
        scheduler.track(plugin)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


@contextmanager
def updating(
    plugin: LoadedPlugin, update: Callable[[], None], *, every: float
) -> Iterator[UpdateScheduler]:
    """``plugin`` with ``update`` in place of its own, due every ``every`` seconds, running."""
    plugin.instance.update = update
    plugin.update_interval = lambda: every  # type: ignore[method-assign]
    with running(plugin, timeout=5) as scheduler:
        yield scheduler


def test_health_three_failures_start_cooldown_and_success_resets() -> None:
    h = PluginHealth(update_cooldown=300)
    h.record_update_failure(0.0, "x")
    h.record_update_failure(1.0, "x")
    assert not h.in_cooldown(1.0) and not h.snapshot().healthy
    h.record_update_failure(2.0, "boom")
    assert h.in_cooldown(2.0) and not h.in_cooldown(302.0)
    assert h.snapshot().last_error == "boom"
    h.record_update_success()
    assert h.snapshot().healthy and not h.in_cooldown(3.0)


def test_render_failure_is_unhealthy_at_once() -> None:
    h = PluginHealth(render_cooldown=60)
    h.record_render_failure(10.0, "render failed")
    assert h.in_cooldown(10.0) and not h.snapshot().healthy
    h.record_render_success()
    assert h.snapshot().healthy


def test_update_success_does_not_end_a_render_cooldown() -> None:
    """A plugin whose render raised was back in the rotation (and raising again) as soon
    as its next update() succeeded, instead of sitting out its render cool-down."""
    h = PluginHealth(render_cooldown=60)
    h.record_render_failure(10.0, "render failed")
    h.record_update_success()
    assert h.in_cooldown(11.0) and not h.snapshot().healthy
    assert not h.in_cooldown(70.0)


def test_hanging_update_times_out_without_blocking_the_scheduler(tmp_path) -> None:
    """Regression for LEDMatrix 0aca40cf (#407) and 65e3e831 (#316)."""
    hung = _load(tmp_path, "lm-slow", {"update_seconds": -1})
    quick = _load(tmp_path, "lm-clock", {})
    with running(hung, quick, timeout=0.3) as scheduler:
        assert wait_until(lambda: quick.instance.updates >= 1)
        assert wait_until(lambda: "timed out" in hung.health.snapshot().last_error)
        assert scheduler.is_updating("lm-slow")  # the thread cannot be killed...
        assert not hung.lock.acquire(blocking=False)  # ...and still holds the plugin
        assert not hung.health.in_cooldown(time.monotonic())  # one timeout: no permanent error


def test_failing_update_is_retried_after_its_interval_not_never(tmp_path) -> None:
    """Regression for LEDMatrix 65e3e831 (#316): one failure parked a plugin in ERROR forever."""
    plugin = _load(tmp_path, "lm-slow", {"update_seconds": 0})
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("network down")

    with updating(plugin, flaky, every=0.05):
        assert wait_until(lambda: len(calls) >= 2)
        assert wait_until(lambda: plugin.health.snapshot().healthy)


def test_repeated_failures_cool_down(tmp_path) -> None:
    plugin = _load(tmp_path, "lm-slow", {"update_seconds": 0})
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("always")

    with updating(plugin, broken, every=0.01):
        assert wait_until(lambda: plugin.health.in_cooldown(time.monotonic()))
        seen = len(calls)
        time.sleep(0.3)
        assert len(calls) == seen == 3  # nothing runs during the cool-down
        assert plugin.health.snapshot().last_error.startswith("update failed: RuntimeError")


def test_update_never_runs_concurrently_with_itself_or_render(tmp_path) -> None:
    """Regression for LEDMatrix 2af41c56 (#437): two threads ran one plugin's update()."""
    plugin = _load(tmp_path, "lm-slow", {"update_seconds": 0.05})
    active = []
    overlap = threading.Event()
    original = plugin.instance.update

    def guarded() -> None:
        active.append(1)
        if len(active) > 1:
            overlap.set()
        original()
        active.pop()

    with updating(plugin, guarded, every=0.001):
        assert wait_until(lambda: plugin.instance.update_calls >= 5)
        assert not overlap.is_set()
        with plugin.lock:  # a render holding the lock blocks updates
            before = plugin.instance.update_calls
            time.sleep(0.2)
            assert plugin.instance.update_calls <= before + 1


@pytest.mark.parametrize("plugin_id", ["lm-raising", "lm-empty"])
def test_plugins_without_long_updates_are_tracked(tmp_path, plugin_id) -> None:
    plugin = _load(tmp_path, plugin_id, {})
    assert plugin.update_interval() == 60.0
