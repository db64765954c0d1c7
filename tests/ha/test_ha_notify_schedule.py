"""Notifications and schedules from Home Assistant: ``notify.send_message`` through the
notify entity shows on the panel, Dismiss clears it, and the schedule controls change
the service's retained schedule, which HA's entities follow."""

from __future__ import annotations

import pytest

from tests.ha.harness import BASE, Watch
from tests.ha.hass_helpers import HaView, assert_clean_log, until
from tests.ha.test_ha_controls import last_response, loaded, retained_state
from tests.support.mosquitto import MosquittoBroker

NOTES = f"{BASE}/state/notifications"
HOURS = f"{BASE}/state/schedule"


async def test_send_message_shows_on_the_panel_and_dismiss_clears_it(
    ha: HaView, watch: Watch, broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    notify = ha.entity_id("notify", "notify")
    sensor = ha.entity_id("notification", "sensor")
    await loaded(ha, sensor)
    assert ha.value(sensor) == "none" and ha.attr(sensor, "queue_length") == 0

    await ha.call("notify", "send_message", notify, message="Washing machine is done")
    await until(
        ha.hass,
        lambda: ha.value(sensor) == "Washing machine is done",
        10,
        lambda: last_response(watch, "notify"),
    )
    current = (await retained_state(ha, broker, NOTES))["current"]
    assert current["text"] == "Washing machine is done"
    assert ha.attr(sensor, "id") == current["id"]

    await ha.call("button", "press", ha.entity_id("dismiss", "button"))
    await until(
        ha.hass, lambda: ha.value(sensor) == "none", 10, lambda: last_response(watch, "dismiss")
    )
    assert (await retained_state(ha, broker, NOTES))["current"] is None
    assert_clean_log(caplog)


async def test_schedule_switches_times_and_dim_brightness_change_the_retained_schedule(
    ha: HaView, watch: Watch, broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    switch = ha.entity_id("schedule", "switch")
    dim_switch = ha.entity_id("dim_schedule", "switch")
    start = ha.entity_id("schedule_start", "text")
    dim_end = ha.entity_id("dim_schedule_end", "text")
    level = ha.entity_id("dim_brightness", "number")
    await loaded(ha, switch, dim_switch, start, dim_end, level)
    assert (ha.value(switch), ha.value(start), ha.value(level)) == ("off", "07:00", "30")

    async def changed(what: str, test: object) -> dict:
        await until(ha.hass, test, 10, lambda: f"{what}: {last_response(watch, 'schedule')}")
        return dict(await retained_state(ha, broker, HOURS))

    await ha.call("text", "set_value", start, value="06:45")
    state = await changed("start", lambda: ha.value(start) == "06:45")
    assert state["schedule"]["start_time"] == "06:45"
    await ha.call("switch", "turn_on", switch)
    state = await changed("switch", lambda: ha.value(switch) == "on")
    assert state["schedule"]["enabled"] is True
    await ha.call("switch", "turn_off", switch)
    await changed("switch off", lambda: ha.value(switch) == "off")

    await ha.call("number", "set_value", level, value=20)
    state = await changed("dim brightness", lambda: ha.value(level) == "20")
    assert state["dim_schedule"]["dim_brightness"] == 20
    await ha.call("text", "set_value", dim_end, value="6:30")
    state = await changed("dim end", lambda: ha.value(dim_end) == "06:30")
    assert state["dim_schedule"]["end_time"] == "06:30"
    await ha.call("switch", "turn_on", dim_switch)
    state = await changed("dim switch", lambda: ha.value(dim_switch) == "on")
    assert state["dim_schedule"]["enabled"] is True
    assert_clean_log(caplog)
