"""Issue 13 items 4 and 5 over a real broker: `configure` and `rotation` against the real Service.

A plugin's settings change over MQTT, are validated against its
``config_schema.json``, written into the user's config file with its comments
kept, and applied live (the plugin reloads; the panel shows the new setting).
A bad value changes nothing. ``rotation`` reorders the rotation at once and is
kept in the config file; per-plugin dwell goes through ``display_duration``.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import jinja2
import pytest

from ledmatrix_mqtt.core.plugin_settings import PluginSettings
from ledmatrix_mqtt.mqtt.settings_entities import (
    rotation_entity,
    setting_entities,
    settings_state_message,
)
from ledmatrix_mqtt.mqtt.topics import Topics
from tests.e2e.conftest import (
    AMBER,
    CONFIG_COMMENT,
    DISPLAY,
    FRAME,
    Appliance,
    PluginShelf,
    colours,
)
from tests.support import yamlio
from tests.support.plugin_factory import plugin_files, registry_entry
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

GREEN = (0, 255, 0)


def config_doc(app: Appliance) -> dict[str, Any]:
    return dict(yamlio.read(app.config_path))


def clock_settings(app: Appliance) -> PluginSettings:
    store = app.service.store
    assert store is not None
    clock = store.inventory.get("clock")
    assert clock is not None
    return store.settings_of([clock])["clock"]


def test_configure_reloads_the_plugin_live_and_keeps_the_config_comments(
    appliance: Appliance,
) -> None:
    app = appliance
    assert app.command("show", {"plugin_id": "clock"})["status"] == "ok"
    app.ha.wait_for(lambda t, p, r: t == FRAME and AMBER in colours(p), timeout=20)
    assert app.service.display is not None
    before = app.service.display.plugins.get("clock")

    reply = app.command(
        "configure", {"plugin_id": "clock", "settings": {"color": [0, 255, 0], "show_date": False}}
    )

    assert reply["status"] == "ok", reply
    assert reply["data"]["plugin_id"] == "clock"
    settings = reply["data"]["settings"]
    assert (settings["color"], settings["show_date"]) == ([0, 255, 0], False)
    assert settings["format_24h"] is True  # the schema default, merged in
    # the panel shows the new colour without a restart: the plugin was reloaded
    app.ha.wait_for(lambda t, p, r: t == FRAME and colours(p) >= {GREEN}, timeout=20)
    assert app.service.display.plugins.get("clock") is not before
    assert AMBER not in colours(app.ha.on(FRAME)[-1])
    text = app.config_path.read_text()
    assert text.startswith(CONFIG_COMMENT)
    assert config_doc(app)["plugins"]["clock"] == {
        "enabled": True,
        "color": [0, 255, 0],
        "show_date": False,
    }

    # null removes the key again: the schema default (amber) comes back
    reply = app.command("configure", {"plugin_id": "clock", "settings": {"color": None}})
    assert reply["status"] == "ok" and reply["data"]["settings"]["color"] == list(AMBER), reply
    app.ha.wait_for(lambda t, p, r: t == FRAME and AMBER in colours(p), timeout=20)
    assert "color" not in config_doc(app)["plugins"]["clock"]


def test_a_bad_value_is_invalid_config_naming_the_key_and_changes_nothing(
    appliance: Appliance,
) -> None:
    app = appliance
    assert app.service.display is not None
    before_bytes = app.config_path.read_bytes()
    loaded = app.service.display.plugins.get("clock")
    for settings, key in (
        ({"color": [0, 0, 999]}, "plugins.clock.color.2"),
        ({"show_date": True, "no_such_setting": 1}, "plugins.clock.no_such_setting"),
        ({"display_duration": 0}, "plugins.clock.display_duration"),
    ):
        reply = app.command("configure", {"plugin_id": "clock", "settings": settings})
        assert reply["status"] == "error", reply
        assert reply["error"]["code"] == "invalid_config"
        assert reply["error"]["message"].startswith(f"{key}: "), reply
    reply = app.command("configure", {"plugin_id": "nope", "settings": {"a": 1}})
    assert reply["error"]["code"] == "not_installed", reply
    assert app.config_path.read_bytes() == before_bytes
    assert app.service.display.plugins.get("clock") is loaded  # not reloaded


def test_rotation_reorders_live_and_is_kept_in_the_config(appliance: Appliance) -> None:
    app = appliance
    assert app.service.display is not None
    # give the text plugin content, so three plugins rotate (1 s each)
    reply = app.command("configure", {"plugin_id": "text", "settings": {"default_text": "hi"}})
    assert reply["status"] == "ok", reply

    reply = app.command("rotation", {"order": ["text", "status"]})

    assert reply["status"] == "ok", reply
    assert reply["data"]["order"] == ["text", "status", "clock"]  # the rest follow by id
    assert config_doc(app)["display"]["rotation_order"] == ["text", "status"]
    assert app.config_path.read_text().startswith(CONFIG_COMMENT)
    slots = [s.plugin_id for s in app.service.display.plugins.slots()]
    assert slots == ["text", "status", "clock"]
    seen = len(app.ha.on(DISPLAY))

    def transitions() -> list[tuple[str, str]]:
        shown = [json.loads(p)["current_plugin"] for p in app.ha.on(DISPLAY)[seen:]]
        changes = [b for a, b in itertools.pairwise(shown) if a != b]
        return list(itertools.pairwise(changes))

    assert wait_until(lambda: len(transitions()) >= 4, 20), "four plugin changes"
    assert set(transitions()) <= {("text", "status"), ("status", "clock"), ("clock", "text")}

    bad = app.command("rotation", {"order": ["clock", "missing-plugin"]})
    assert bad["error"]["code"] == "not_installed", bad
    assert config_doc(app)["display"]["rotation_order"] == ["text", "status"]


def test_display_duration_sets_the_plugins_dwell(appliance: Appliance) -> None:
    app = appliance
    assert app.service.display is not None
    reply = app.command("configure", {"plugin_id": "status", "settings": {"display_duration": 7}})
    assert reply["status"] == "ok" and reply["data"]["settings"]["display_duration"] == 7, reply

    def dwell() -> set[float]:
        assert app.service.display is not None
        return {s.duration for s in app.service.display.plugins.slots() if s.plugin_id == "status"}

    assert wait_until(lambda: dwell() == {7.0}, 10), "status dwells 7 s"
    assert config_doc(app)["plugins"]["status"]["display_duration"] == 7


SECRET = "sk-e2e-never-shown-4711"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "x-secret": True},
        "units": {"type": "string", "enum": ["metric", "imperial"], "default": "metric"},
    },
    "required": ["api_key"],
}


def test_secrets_can_not_be_set_and_never_appear_on_mqtt(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    app = appliance
    shelf.fake.add_repo(
        "tests", "weather-lite", plugin_files("weather-lite", schema=WEATHER_SCHEMA)
    )
    shelf.entries["weather-lite"] = registry_entry(shelf.fake, "weather-lite")
    shelf.fake.set_registry(list(shelf.entries.values()))
    app.config_path.with_name("secrets.yaml").write_text(
        f"plugins:\n  weather-lite:\n    api_key: {SECRET}\n"
    )
    assert app.command("install", {"plugin_id": "weather-lite"}, timeout=60)["status"] == "ok"

    reply = app.command(
        "configure", {"plugin_id": "weather-lite", "settings": {"units": "imperial"}}
    )
    assert reply["status"] == "ok", reply
    assert reply["data"]["settings"] == {
        "api_key": "***", "units": "imperial", "enabled": True,
        "display_duration": 1.0,  # the display's default duration: the block has none
    }  # fmt: skip
    refused = app.command("configure", {"plugin_id": "weather-lite", "settings": {"api_key": "x"}})
    assert refused["error"]["code"] == "forbidden", refused
    assert "secrets.yaml" in refused["error"]["message"]

    assert SECRET not in app.config_path.read_text()
    everything = b"".join(p for _t, p, _r in app.ha.messages)
    everything += b"".join(app.retained("#").values())
    assert SECRET.encode() not in everything


def test_home_assistant_entities_drive_configure_and_rotation(appliance: Appliance) -> None:
    """What HA sends for the settings entities (templates rendered with Jinja2, as HA does)
    is accepted by the running service and changes the panel and the file."""
    app = appliance
    assert app.service.display is not None
    topics = Topics.from_config(app.config)
    settings = clock_settings(app)
    entities = {e.object_id: e for e in setting_entities(topics, "clock", "Clock", settings)}
    jinja = jinja2.Environment(autoescape=False)  # the templates make JSON, not HTML

    colour = entities["plugin_clock_set_color"]
    payload = jinja.from_string(colour.body["command_template"]).render(value="#00ff00")
    reply = app.ha_publish(colour.body["command_topic"], payload)
    assert reply["status"] == "ok", reply
    state = settings_state_message(topics, clock_settings(app))
    shown = jinja.from_string(colour.body["value_template"]).render(
        value_json=json.loads(state.payload)
    )
    assert shown == "#00ff00"
    assert app.command("show", {"plugin_id": "clock"})["status"] == "ok"
    app.ha.wait_for(lambda t, p, r: t == FRAME and GREEN in colours(p), timeout=20)

    rotation = rotation_entity(topics)
    payload = jinja.from_string(rotation.body["command_template"]).render(value="status, clock")
    reply = app.ha_publish(rotation.body["command_topic"], payload)
    assert reply["status"] == "ok" and reply["data"]["order"][:2] == ["status", "clock"], reply
    assert config_doc(app)["display"]["rotation_order"] == ["status", "clock"]
