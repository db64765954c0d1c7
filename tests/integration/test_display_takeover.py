"""Notifications, live priority and schedules on a running DisplayController (headless).

Frames are checked against golden images (``tests/golden/``, regenerate with
``UPDATE_GOLDEN=1``) or pixel by pixel; waits use ``wait_until``.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageChops

from ledmatrix_mqtt.core.config_model import DeviceConfig
from ledmatrix_mqtt.core.notifications import MAX_QUEUE, Notification
from ledmatrix_mqtt.errors import Busy, InvalidPayload, NotFound
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.notification_view import REPLACEMENT, NotificationPainter
from ledmatrix_mqtt.runtime.spec import builtin_specs
from tests.support.golden import check_golden
from tests.support.headless_display import headless_controllers
from tests.support.ledmatrix_style_plugins import fixture_spec
from tests.support.waiting import wait_until

BERLIN = ZoneInfo("Europe/Berlin")
DEVICE = DeviceConfig("panel", "Test Panel", "Europe/Berlin")


class WallClock:
    """The controller's wall clock, set by the test (schedules are about wall time)."""

    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when.timestamp()


@pytest.fixture
def make(tmp_path):
    with headless_controllers(tmp_path / "state", DEVICE) as build:

        def factory(*, wall=None, schedule=None, dim_schedule=None, **display) -> DisplayController:
            extra = {"wall_clock": wall} if wall is not None else {}
            return build(display, schedule=schedule, dim_schedule=dim_schedule, **extra)

        yield factory


def builtins_clock_only():  # type: ignore[no-untyped-def]
    return builtin_specs({"text": {"enabled": False}, "status": {"enabled": False}})


def painter() -> NotificationPainter:
    return NotificationPainter(64, 32)


def shows(c: DisplayController, frame: Image.Image) -> bool:
    return ImageChops.difference(c.frame_image(), frame).getbbox() is None


# notifications ---------------------------------------------------------------------------
def test_notification_pre_empts_the_rotation_which_resumes_where_it_was(make) -> None:
    c = make(default_duration=30)
    c.sync_plugins(builtins_clock_only())
    c.start()
    assert wait_until(lambda: c.state().current_plugin == "clock")
    assert wait_until(lambda: time.time() - c.state().since >= 1.0, 3)  # up for a second
    since = c.state().since
    door = Notification.create("Door!", color=[255, 160, 0], hold=True, id="door")
    noticed = time.monotonic()
    state = c.notify(door)
    assert state.current == door and state.queue_length == 0
    expected = painter().render(door, 0.0)
    assert wait_until(lambda: shows(c, expected))
    check_golden(expected, "notification-64x32")
    assert c.state().current_plugin == "clock"  # paused, not replaced
    assert not wait_until(lambda: not shows(c, expected), timeout=0.5)  # held
    assert c.dismiss("door").current is None
    paused = time.monotonic() - noticed
    assert wait_until(lambda: not shows(c, expected))
    assert c.state().current_plugin == "clock"
    # the dwell it had left: its start moved by the pause (a fresh dwell would start now)
    assert abs(c.state().since - (since + paused)) < 0.3


def test_higher_priority_pre_empts_lower_waits_and_full_queue_is_busy(make) -> None:
    c = make()
    c.sync_plugins(builtins_clock_only())
    low = Notification.create("low", hold=True, id="low")
    high = Notification.create("high", hold=True, priority=5, id="high")
    c.notify(low)
    state = c.notify(high)
    assert state.current == high and [n.id for n in state.queued] == ["low"]
    c.notify(Notification.create("later", hold=True, id="later"))
    assert [n.id for n in c.notifications().queued] == ["low", "later"]
    for i in range(MAX_QUEUE - 2):
        c.notify(Notification.create(f"m{i}", hold=True))
    with pytest.raises(Busy):
        c.notify(Notification.create("one too many", hold=True))
    assert c.dismiss("high").current == low  # the queue drains in order
    with pytest.raises(NotFound):
        c.dismiss("high")
    assert c.dismiss(None).current is None and c.notifications().queue_length == 0


def test_timed_notification_ends_by_itself(make) -> None:
    c = make()
    c.sync_plugins(builtins_clock_only())
    c.start()
    c.notify(Notification.create("brief", duration=0.3))
    assert c.notifications().current is not None
    assert wait_until(lambda: c.notifications().current is None, timeout=3)


def test_scrolling_notification_moves_and_ends_after_its_passes(make) -> None:
    p = painter()
    washer = Notification.create("The washing machine is done", repeat=1, color="#00ff80")
    assert p.scrolls(washer)
    length = p.length(washer)
    assert length is not None and 3 < length < 10
    first, later = p.render(washer, 1.0), p.render(washer, 2.0)
    assert ImageChops.difference(first, later).getbbox()  # it moved
    check_golden(later, "notification-scrolling-64x32")
    c = make()
    c.sync_plugins(builtins_clock_only())
    c.start()
    c.notify(washer)
    assert wait_until(lambda: c.notifications().current is None, timeout=length + 3)


def test_characters_the_font_lacks_get_fallback_glyphs_not_boxes() -> None:
    p = painter()
    laid = p.layout("Café ❤️ 😀 🦄")
    chars = "".join(ch for ch, _font, _advance in laid)
    assert chars == f"Café ♥ ☺ {REPLACEMENT}"  # variation selector dropped
    fonts_used = {font for _ch, font, _advance in laid}
    assert fonts_used == {"6x13B", "6x10"}
    check_golden(p.render(Notification.create("Hi ❤️ 🦄"), 0.0), "notification-fallback-64x32")


def test_bad_notification_fields_are_invalid_payload_naming_the_field() -> None:
    for kwargs, field in [
        ({"text": ""}, "text"),
        ({"text": "x", "color": [300, 0, 0]}, "color"),
        ({"text": "x", "duration": -1}, "duration"),
        ({"text": "x", "priority": 99}, "priority"),
        ({"text": "x", "repeat": True}, "repeat"),
        ({"text": "x", "id": "a b"}, "id"),
    ]:
        with pytest.raises(InvalidPayload, match=field):
            Notification.create(**kwargs)


# live priority ---------------------------------------------------------------------------
def test_live_plugin_takes_over_then_rotation_resumes_and_notifications_outrank_it(
    make, tmp_path
) -> None:
    game = tmp_path / "game-on"
    c = make(default_duration=1)
    live = fixture_spec("lm-live", tmp_path, {"live_priority": True, "game_file": str(game)})
    c.sync_plugins([*builtins_clock_only(), live])
    seen: list[str] = []
    c.add_listener(lambda kind: seen.append(c.state().current_plugin))
    c.start()
    assert wait_until(lambda: {"clock", "lm-live"} <= set(seen), 5)  # plain rotation
    game.write_text("kick-off")
    assert wait_until(lambda: c.state().current_plugin == "lm-live", 5)
    assert c.state().current_mode == "lm-live-game"
    seen.clear()
    assert not wait_until(lambda: "clock" in seen, timeout=2.5)  # held beyond two dwells
    note = Notification.create("GOAL", hold=True, id="goal")
    c.notify(note)
    assert wait_until(lambda: shows(c, painter().render(note, 0.0)))
    c.dismiss("goal")
    game.unlink()
    assert wait_until(lambda: c.state().current_plugin == "clock", 5)


def test_live_priority_is_opt_in_per_plugin(make, tmp_path) -> None:
    game = tmp_path / "game-on"
    game.write_text("kick-off")
    c = make(default_duration=1)
    live = fixture_spec("lm-live", tmp_path, {"game_file": str(game)})  # no live_priority
    c.sync_plugins([*builtins_clock_only(), live])
    seen: list[str] = []
    c.add_listener(lambda kind: seen.append(c.state().current_plugin))
    c.start()
    assert wait_until(lambda: seen.count("clock") >= 2, 6)  # the rotation goes on


# schedules -------------------------------------------------------------------------------
def test_active_hours_turn_the_panel_off_and_manual_power_lasts_until_the_next_edge(
    make,
) -> None:
    wall = WallClock(dt.datetime(2025, 6, 2, 23, 30, tzinfo=BERLIN))
    c = make(wall=wall, schedule={"enabled": True, "start_time": "07:00", "end_time": "23:00"})
    c.sync_plugins(builtins_clock_only())
    c.start()
    assert wait_until(lambda: not c.state().power)
    assert c.schedule_state().active is False
    assert c.schedule_state().next_change == dt.datetime(2025, 6, 3, 7, tzinfo=BERLIN).timestamp()
    assert c.frame_image().getbbox() is None  # blank
    c.set_power(True)  # manual: stands until the next edge
    assert wait_until(lambda: c.frame_image().getbbox() is not None)
    wall.set(dt.datetime(2025, 6, 3, 3, 0, tzinfo=BERLIN))  # still off-hours, no edge
    assert not wait_until(lambda: not c.state().power, timeout=1.5)
    wall.set(dt.datetime(2025, 6, 3, 23, 0, 1, tzinfo=BERLIN))  # past 07:00 and 23:00
    assert wait_until(lambda: not c.state().power, timeout=3)


def test_dim_schedule_dims_the_panel_and_manual_brightness_lasts_until_the_edge(make) -> None:
    wall = WallClock(dt.datetime(2025, 6, 2, 23, 30, tzinfo=BERLIN))
    dim = {"enabled": True, "start_time": "22:00", "end_time": "06:00", "dim_brightness": 10}
    c = make(wall=wall, dim_schedule=dim, brightness=90)
    c.sync_plugins(builtins_clock_only())
    c.start()
    backend = c.frames.backend
    assert wait_until(lambda: backend.brightness == 10 and c.state().brightness == 10)
    assert c.schedule_state().dimmed
    assert wait_until(lambda: c.frame_image().getbbox() is not None)  # dimmed, not off
    c.set_brightness(40)
    wall.set(dt.datetime(2025, 6, 3, 5, 0, tzinfo=BERLIN))  # still dim hours, no edge
    assert not wait_until(lambda: backend.brightness != 40, timeout=1.5)
    wall.set(dt.datetime(2025, 6, 3, 6, 0, 1, tzinfo=BERLIN))
    assert wait_until(lambda: backend.brightness == 90, timeout=3)  # the day brightness


def test_schedule_can_be_changed_at_runtime(make) -> None:
    wall = WallClock(dt.datetime(2025, 6, 2, 12, 0, tzinfo=BERLIN))
    c = make(wall=wall)
    c.sync_plugins(builtins_clock_only())
    c.start()
    assert c.schedule_state().schedule.enabled is False
    state = c.set_schedule(schedule={"enabled": True, "start_time": "13:00", "end_time": "14:00"})
    assert state.active is False
    assert wait_until(lambda: not c.state().power)
    c.set_schedule(schedule={"enabled": False})
    assert wait_until(lambda: c.state().power)


# frames that declare when they change -------------------------------------------------------
def test_static_clock_renders_only_when_its_minute_changes_and_still_shows_after_power_on(
    make,
) -> None:
    """The HH:MM clock was rendered every second (most of the idle CPU); now only when its
    minute changes, while power and wall-clock changes still show at once."""
    wall = WallClock(dt.datetime(2025, 6, 2, 12, 0, 5, tzinfo=BERLIN))
    c = make(wall=wall, default_duration=600)
    c.sync_plugins(builtins_clock_only())
    c.start()
    assert wait_until(lambda: c.frame_image().getbbox() is not None)
    clock = c.plugins.get("clock")
    assert clock is not None
    renders: list[dt.datetime] = []
    original = clock.instance.render
    clock.instance.render = lambda ctx: (renders.append(ctx.now), original(ctx))[1]
    assert not wait_until(lambda: renders, timeout=2.5), "re-rendered within the same minute"
    before = c.frame_image()
    wall.set(dt.datetime(2025, 6, 2, 12, 1, 0, 500_000, tzinfo=BERLIN))
    assert wait_until(lambda: renders, timeout=3)
    assert wait_until(lambda: not shows(c, before), timeout=3), "the new minute is shown"
    c.set_power(False)
    assert wait_until(lambda: c.frame_image().getbbox() is None)
    c.set_power(True)
    assert wait_until(lambda: c.frame_image().getbbox() is not None, timeout=3)
