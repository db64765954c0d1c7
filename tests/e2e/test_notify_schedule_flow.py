"""Issue 13 items 1-3 over a real broker: notifications and schedules against the real Service.

A notification pre-empts the rotation (the retained frame shows it), a higher
priority pre-empts a lower one which shows after, dismiss clears, and the
rotation resumes on the plugin it was on. Schedules set over MQTT apply at once
in the device's time zone, are saved to the config file with its comments, and
a bad one changes nothing. The frames of a notification and of a dimmed panel
are saved under ``FRAMES_DIR`` for the issue's closing note.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from tests.e2e.conftest import (
    AMBER,
    CONFIG_COMMENT,
    DISPLAY,
    FRAME,
    ROOT,
    Appliance,
    PluginShelf,
    colours,
    decode_png,
    is_blank,
    start_appliance,
    wait_json,
    write_config,
)
from tests.support import yamlio
from tests.support.mosquitto import MosquittoBroker
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

NOTES = f"{ROOT}/state/notifications"
HOURS = f"{ROOT}/state/schedule"
ZONE = "America/New_York"  # not the machine's zone: the schedule must use the device's
RED = (255, 0, 0)
BLUE = (0, 0, 255)
FRAMES_DIR = Path("/tmp/ledmatrix-issue13-frames")


def save(name: str, image: Image.Image) -> None:
    FRAMES_DIR.mkdir(parents=True, exist_ok=True)
    image.resize((image.width * 8, image.height * 8), Image.Resampling.NEAREST).save(
        FRAMES_DIR / name
    )


@pytest.fixture
def panel(tmp_path: Path, broker: MosquittoBroker, shelf: PluginShelf) -> Iterator[Appliance]:
    """The clock alone in a slow rotation (30 s a plugin), in a zone other than UTC."""
    path = write_config(
        tmp_path / "etc", port=broker.port, store=shelf.fake.store_config(),
        display={"default_duration": 30, "rotation_order": ["clock"]},
    )  # fmt: skip
    doc = yamlio.read(path)
    doc["device"]["timezone"] = ZONE
    path.write_text(CONFIG_COMMENT + yamlio.dump(doc))
    app = start_appliance(path, broker)
    try:
        yield app
    finally:
        app.ha.close()
        app.service.stop()


def retained_json(app: Appliance, topic: str) -> dict[str, Any]:
    return dict(json.loads(app.retained(topic)[topic]))


def frame_where(app: Appliance, test: Any, timeout: float = 15.0) -> bytes:
    _t, payload, _r = app.ha.wait_for(lambda t, p, r: t == FRAME and test(p), timeout=timeout)
    return bytes(payload)


def shown_with_light(
    backend: HeadlessBackend,
) -> tuple[Image.Image, Image.Image] | None:
    """The frame on the panel and the light it gives off, or None if a redraw came between."""
    shown = backend.last
    light = backend.emitted()
    return (shown, light) if backend.last is shown else None


def current_id(data: dict[str, Any]) -> str | None:
    return data["current"]["id"] if data["current"] else None


def test_notifications_pre_empt_the_rotation_by_priority_and_it_resumes_on_the_same_plugin(
    panel: Appliance,
) -> None:
    app = panel
    before = frame_where(app, lambda p: AMBER in colours(p))
    showing = json.loads(app.retained(DISPLAY)[DISPLAY])["current_plugin"]
    assert showing == "clock"
    save("1-rotation-before.png", decode_png(before))

    wash = {"text": "WASH DONE", "color": "#ff0000", "hold": True, "id": "wash"}
    reply = app.command("notify", wash)
    assert reply["status"] == "ok", reply
    assert (reply["data"]["id"], current_id(reply["data"])) == ("wash", "wash")
    frame = frame_where(app, lambda p: RED in colours(p) and AMBER not in colours(p))
    save("2-notification-pre-empts-rotation.png", decode_png(frame))
    wait_json(app.ha, NOTES, lambda d: current_id(d) == "wash" and d["queue_length"] == 0)

    door = {"text": "DOOR", "color": [0, 0, 255], "hold": True, "id": "door", "priority": 5}
    assert app.command("notify", door)["status"] == "ok"
    frame = frame_where(app, lambda p: BLUE in colours(p) and RED not in colours(p))
    save("3-higher-priority-pre-empts.png", decode_png(frame))
    state = wait_json(app.ha, NOTES, lambda d: current_id(d) == "door")
    assert state["queue_length"] == 1 and state["queued"] == ["wash"]

    reply = app.command("dismiss", {"id": "door"})
    assert reply["status"] == "ok" and current_id(reply["data"]) == "wash", reply
    frame_where(app, lambda p: RED in colours(p) and BLUE not in colours(p))  # the lower one
    reply = app.command("dismiss", {})
    assert reply["data"] == {"current": None, "queue_length": 0, "queued": []}, reply
    frame_where(app, lambda p: AMBER in colours(p) and RED not in colours(p))
    assert retained_json(app, NOTES) == {"current": None, "queue_length": 0, "queued": []}
    assert retained_json(app, DISPLAY)["current_plugin"] == showing
    assert app.command("dismiss", {"id": "wash"})["error"]["code"] == "not_found"


def test_a_timed_notification_ends_by_itself_and_the_state_goes_idle(panel: Appliance) -> None:
    app = panel
    reply = app.command("notify", {"text": "HI", "color": "#ff0000", "duration": 1})
    assert reply["status"] == "ok", reply
    frame_where(app, lambda p: RED in colours(p))
    wait_json(app.ha, NOTES, lambda d: d["current"] is None, timeout=10)
    frame_where(app, lambda p: AMBER in colours(p) and RED not in colours(p))


def hhmm(moment: dt.datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def test_a_schedule_that_excludes_now_turns_the_panel_off_and_is_saved_with_comments(
    panel: Appliance,
) -> None:
    app = panel
    now = dt.datetime.now(ZoneInfo(ZONE))
    # two hours from now in the device's zone: outside, whatever the machine's zone is
    start, end = hhmm(now + dt.timedelta(hours=2)), hhmm(now + dt.timedelta(hours=3))
    frame_where(app, lambda p: AMBER in colours(p))
    before = yamlio.read(app.config_path)

    hours = {"enabled": True, "start_time": start, "end_time": end}
    reply = app.command("schedule", {"schedule": hours})

    assert reply["status"] == "ok", reply
    assert reply["data"]["active"] is False
    wait_json(app.ha, DISPLAY, lambda d: d["power"] == "OFF")
    frame_where(app, lambda p: is_blank(decode_png(p)))
    state = retained_json(app, HOURS)
    assert state["schedule"]["enabled"] is True and state["active"] is False
    assert (state["schedule"]["start_time"], state["schedule"]["end_time"]) == (start, end)
    text = app.config_path.read_text()
    assert text.startswith(CONFIG_COMMENT)
    doc = yamlio.load(text)
    assert doc == {**before, "schedule": hours}  # nothing else changed

    # a partial update (merge-patch): switching it off keeps the times
    reply = app.command("schedule", {"schedule": {"enabled": False}})
    assert reply["data"]["active"] is True, reply
    wait_json(app.ha, DISPLAY, lambda d: d["power"] == "ON")
    assert yamlio.read(app.config_path)["schedule"] == {**hours, "enabled": False}


def test_the_dim_schedule_dims_the_panel_brightness_and_its_light(panel: Appliance) -> None:
    app = panel
    now = dt.datetime.now(ZoneInfo(ZONE))
    start, end = hhmm(now - dt.timedelta(hours=1)), hhmm(now + dt.timedelta(hours=1))
    assert app.service.display is not None
    backend = app.service.display.frames.backend
    assert isinstance(backend, HeadlessBackend)
    assert decode_png(frame_where(app, lambda p: AMBER in colours(p)))
    assert retained_json(app, DISPLAY)["brightness"] == 80

    dim = {"enabled": True, "start_time": start, "end_time": end, "dim_brightness": 10}
    reply = app.command("schedule", {"dim_schedule": dim})

    assert reply["status"] == "ok" and reply["data"]["dimmed"] is True, reply
    wait_json(app.ha, DISPLAY, lambda d: d["brightness"] == 10 and d["power"] == "ON")
    assert retained_json(app, HOURS)["dim_schedule"] == {**dim, "mode": "global"}
    assert backend.brightness == 10
    # The clock redraws each second: compare a frame with the light of that same frame.
    snapshot = wait_until(lambda: shown_with_light(backend), timeout=5)
    assert snapshot.met, "two reads of the panel without a redraw between them"
    frame, light = snapshot.value
    save("4-dimmed-panel-light.png", light)
    lit = [
        (x, y) for x in range(frame.width) for y in range(frame.height) if frame.getpixel((x, y))
    ]
    assert lit, "the clock draws something"
    for xy in lit:
        full, dimmed = frame.getpixel(xy), light.getpixel(xy)
        assert dimmed == tuple(c * 10 // 100 for c in full), (xy, full, dimmed)
    assert yamlio.read(app.config_path)["dim_schedule"] == dim

    app.command("schedule", {"dim_schedule": {"enabled": False}})
    wait_json(app.ha, DISPLAY, lambda d: d["brightness"] == 80)


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"schedule": {"start_time": "25:00"}}, "schedule.start_time"),
        ({"schedule": {"enabled": "maybe"}}, "schedule.enabled"),
        ({"dim_schedule": {"dim_brightness": 101}}, "dim_schedule.dim_brightness"),
        ({"schedule": {"mode": "per-day", "days": {"funday": {}}}}, "schedule.days.funday"),
    ],
)
def test_a_bad_schedule_is_invalid_config_naming_the_key_and_changes_nothing(
    panel: Appliance, payload: dict[str, Any], key: str
) -> None:
    app = panel
    before_file = app.config_path.read_bytes()
    before_state = retained_json(app, HOURS)
    reply = app.command("schedule", payload)
    assert reply["status"] == "error", reply
    assert reply["error"]["code"] == "invalid_config"
    assert reply["error"]["message"].startswith(f"{key}: "), reply
    assert app.config_path.read_bytes() == before_file
    assert retained_json(app, HOURS) == before_state
