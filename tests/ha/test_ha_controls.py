"""Every control, used the way Home Assistant's UI uses it (HA's own services), changes
the service's retained state, and HA's entity follows."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import Event, EventStateChangedData, callback
from homeassistant.helpers.event import async_track_state_change_event

from tests.ha.harness import BASE, BUILTINS, IDENTIFIER, STORE_PLUGIN, Watch, retained_json
from tests.ha.hass_helpers import UNSET, HaView, assert_clean_log, until
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import PluginShelf

DISPLAY = f"{BASE}/state/display"


def last_response(watch: Watch, command: str) -> Any:
    """The service's last answer to ``command`` (why a state did not change)."""
    return watch.latest_json(f"{BASE}/response/{command}")


async def retained_state(ha: HaView, broker: MosquittoBroker, topic: str) -> Any:
    return await ha.hass.async_add_executor_job(retained_json, broker, topic)


async def loaded(ha: HaView, *entity_ids: str) -> None:
    await until(
        ha.hass,
        lambda: all(ha.value(e) not in UNSET for e in entity_ids),
        30,
        f"{entity_ids} have values",
    )


async def press_until_changed(
    ha: HaView,
    broker: MosquittoBroker,
    watch: Watch,
    button: str,
    key: str,
    *,
    state: str | None = None,
    command: str | None = None,
) -> tuple[Any, Any]:
    """Press ``button`` in HA and wait until ``key`` of the retained ``state/<state>``
    (default: the button's name) changes; that state before and after."""
    topic = f"{BASE}/state/{state or button}"
    before = await retained_state(ha, broker, topic)
    await ha.call("button", "press", ha.entity_id(button, "button"))
    await until(
        ha.hass,
        lambda: (watch.latest_json(topic) or {}).get(key) != before[key],
        20,
        lambda: last_response(watch, command or button),
    )
    return before, await retained_state(ha, broker, topic)


async def test_light_text_select_and_buttons_change_the_retained_state(
    ha: HaView, watch: Watch, broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    light = ha.entity_id("panel", "light")
    text = ha.entity_id("message", "text")
    show = ha.entity_id("show", "select")
    await loaded(ha, light, text, show)

    # -- light: off, then on at half brightness ------------------------------------------
    await ha.call("light", "turn_off", light)
    await until(
        ha.hass, lambda: ha.value(light) == "off", 10, lambda: last_response(watch, "power")
    )
    assert (await retained_state(ha, broker, DISPLAY))["power"] == "OFF"
    await ha.call("light", "turn_on", light, brightness=128)
    await until(ha.hass, lambda: ha.value(light) == "on", 10, lambda: last_response(watch, "power"))
    await until(ha.hass, lambda: ha.attr(light, "brightness") in (127, 128), 10, "brightness")
    display = await retained_state(ha, broker, DISPLAY)
    assert (display["power"], display["brightness"]) == ("ON", 50)

    # -- text: a message, JSON-looking input kept verbatim, then clearing ------------------
    for typed in ("Dinner is ready", "42", "true", "[1, 2]", ""):
        await ha.call("text", "set_value", text, value=typed)
        await until(
            ha.hass,
            lambda typed=typed: (watch.latest_json(DISPLAY) or {}).get("text") == typed,
            10,
            lambda typed=typed: f"text {typed!r}: {last_response(watch, 'text')}",
        )
        assert (await retained_state(ha, broker, DISPLAY))["text"] == typed
        await until(ha.hass, lambda typed=typed: ha.value(text) == typed, 10, f"HA shows {typed!r}")

    # -- select: show another plugin ---------------------------------------------------------
    current = ha.value(show)
    target = next(p for p in BUILTINS if p != current)
    await ha.call("select", "select_option", show, option=target)
    await until(ha.hass, lambda: ha.value(show) == target, 10, lambda: last_response(watch, "show"))
    assert (await retained_state(ha, broker, DISPLAY))["current_plugin"] == target

    # -- buttons: next plugin, reconcile, refresh store ----------------------------------------
    await ha.call("button", "press", ha.entity_id("next", "button"))
    await until(ha.hass, lambda: ha.value(show) != target, 10, lambda: last_response(watch, "next"))
    assert (await retained_state(ha, broker, DISPLAY))["current_plugin"] == ha.value(show)

    before, after = await press_until_changed(ha, broker, watch, "reconcile", "finished_at")
    assert after["finished_at"] > before["finished_at"] and after["successful"] is True
    _, store_after = await press_until_changed(
        ha, broker, watch, "refresh_store", "fetched_at", state="store", command="search"
    )
    assert STORE_PLUGIN in [e["id"] for e in store_after["entries"]]
    assert_clean_log(caplog)


async def test_plugin_switch_changes_the_retained_plugin_state(
    ha: HaView, watch: Watch, broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    switch = ha.entity_id("plugin_clock_enabled", "switch")
    await loaded(ha, switch)
    topic = f"{BASE}/state/plugins/clock"
    await ha.call("switch", "turn_off", switch)
    await until(
        ha.hass, lambda: ha.value(switch) == "off", 10, lambda: last_response(watch, "enable")
    )
    assert (await retained_state(ha, broker, topic))["enabled"] is False
    await ha.call("switch", "turn_on", switch)
    await until(
        ha.hass, lambda: ha.value(switch) == "on", 10, lambda: last_response(watch, "enable")
    )
    assert (await retained_state(ha, broker, topic))["enabled"] is True
    assert_clean_log(caplog)


async def test_store_install_update_with_progress_and_uninstall_from_home_assistant(
    ha: HaView,
    watch: Watch,
    broker: MosquittoBroker,
    store: PluginShelf,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass = ha.hass
    plugin_topic = f"{BASE}/state/plugins/{STORE_PLUGIN}"
    key = STORE_PLUGIN  # already HA-safe, so its object id is the id itself

    # -- install from the store: refresh it, pick the plugin in the select, press Install ----
    await ha.call("button", "press", ha.entity_id("refresh_store", "button"))
    await until(
        hass,
        lambda: f"{IDENTIFIER}_store_plugin" in ha.unique_ids(),
        20,
        lambda: f"the store picker appears: {last_response(watch, 'search')}",
    )
    picker = ha.entity_id("store_plugin", "select")
    await until(
        hass,
        lambda: (
            STORE_PLUGIN in (ha.attr(picker, "options") or []) and ha.value(picker) != "unavailable"
        ),
        20,
        "the picker offers the store plugin",
    )
    await ha.call("select", "select_option", picker, option=STORE_PLUGIN)
    await until(
        hass,
        lambda: ha.value(picker) == STORE_PLUGIN,
        10,
        lambda: last_response(watch, "store_select"),
    )
    await ha.call("button", "press", ha.entity_id("store_install", "button"))
    await until(
        hass,
        lambda: (watch.latest_json(plugin_topic) or {}).get("installed_version") == "1.0.0",
        60,
        lambda: last_response(watch, "store_install"),
    )
    assert (await retained_state(ha, broker, plugin_topic))["installed_version"] == "1.0.0"
    uids = {f"plugin_{key}_update", f"plugin_{key}_enabled", f"plugin_{key}_uninstall"}
    await until(
        hass,
        lambda: {f"{IDENTIFIER}_{u}" for u in uids} <= ha.unique_ids(),
        20,
        "the plugin's entities appear",
    )
    update = ha.entity_id(f"plugin_{key}_update", "update")
    await until(hass, lambda: ha.value(update) == "off", 20, "installed plugin is up to date")

    # -- a new version: Refresh store, then the update entity's Install ------------------------
    store.publish(STORE_PLUGIN, "1.1.0", text="V2")
    await ha.call("button", "press", ha.entity_id("refresh_store", "button"))
    await until(hass, lambda: ha.value(update) == "on", 30, lambda: last_response(watch, "search"))
    assert ha.attr(update, "latest_version") == "1.1.0"
    seen: list[dict[str, Any]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen.append(dict(new.attributes))

    unsubscribe = async_track_state_change_event(hass, [update], record)
    try:
        await ha.call("update", "install", update)
        await until(
            hass,
            lambda: (
                ha.attr(update, "installed_version") == "1.1.0"
                and ha.attr(update, "in_progress") is False
            ),
            60,
            lambda: last_response(watch, "update"),
        )
    finally:
        unsubscribe()
    assert ha.value(update) == "off"
    assert any(s.get("in_progress") for s in seen), seen
    assert any(isinstance(s.get("update_percentage"), int | float) for s in seen), seen
    assert (await retained_state(ha, broker, plugin_topic))["installed_version"] == "1.1.0"

    # -- uninstall: the plugin's entities leave HA ----------------------------------------------
    await ha.call("button", "press", ha.entity_id(f"plugin_{key}_uninstall", "button"))
    await until(
        hass,
        lambda: not any(f"_plugin_{key}_" in u for u in ha.unique_ids()),
        30,
        lambda: last_response(watch, "uninstall"),
    )
    assert await retained_state(ha, broker, plugin_topic) is None
    assert_clean_log(caplog)
