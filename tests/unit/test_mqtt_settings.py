"""`configure`/`rotation` payloads and the settings entities' templates, rendered with Jinja2.

Home Assistant renders ``command_template``/``value_template`` with Jinja2; the
filters used here (int with a base, format, replace, join, tojson) are Jinja2
built-ins with the same signatures in HA. Each rendered command goes back through
the real codec, so the entity and the command parser are checked against each other.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
import pytest

from ledmatrix_mqtt.core.models import thaw
from ledmatrix_mqtt.core.plugin_settings import PluginSettings, public_settings
from ledmatrix_mqtt.core.simple_settings import simple_settings
from ledmatrix_mqtt.errors import InvalidPayload, InvalidPluginId
from ledmatrix_mqtt.mqtt.codec import Rejected, decode_request
from ledmatrix_mqtt.mqtt.command_args import ConfigureArgs, RotationArgs
from ledmatrix_mqtt.mqtt.settings_entities import (
    rotation_entity,
    rotation_state_message,
    setting_entities,
    settings_data,
    settings_state_message,
)
from ledmatrix_mqtt.mqtt.topics import Topics
from tests.unit.test_plugin_settings import CLOCK_SCHEMA, LEDMATRIX_STYLE

TOPICS = Topics("ledmatrix", "panel", "homeassistant")
JINJA = jinja2.Environment(autoescape=False)  # the templates make JSON, not HTML


def render(template: str, **variables: Any) -> str:
    return JINJA.from_string(template).render(**variables)


def settings_of(schema: dict[str, Any], plugin_id: str, block: dict[str, Any]) -> PluginSettings:
    shown = public_settings(schema, plugin_id, block)
    return PluginSettings(plugin_id, shown.values, simple_settings(schema))


def entities_by_key(settings: PluginSettings) -> dict[str, Any]:
    entities = setting_entities(TOPICS, settings.plugin_id, "Clock", settings)
    return {e.object_id.rsplit("_set_", 1)[1]: e for e in entities}


def send(entity: Any, value: Any) -> ConfigureArgs:
    """What HA publishes when the user sets ``value``, decoded by the service's codec."""
    assert entity.body["command_topic"] == "ledmatrix/panel/cmd/configure"
    payload = render(entity.body["command_template"], value=value)
    request = decode_request("configure", payload.encode())
    assert isinstance(request.args, ConfigureArgs)
    return request.args


def shown(entity: Any, settings: PluginSettings) -> str:
    """The entity's state as HA computes it from the retained settings state."""
    message = settings_state_message(TOPICS, settings)
    assert entity.body["state_topic"] == message.topic == "ledmatrix/panel/state/settings/clock"
    return render(entity.body["value_template"], value_json=json.loads(message.payload))


def test_configure_payload_parses_into_a_merge_patch() -> None:
    payload = {"plugin_id": "clock", "settings": {"color": [1, 2, 3], "timezone": None}}
    args = decode_request("configure", json.dumps(payload).encode()).args
    assert isinstance(args, ConfigureArgs)
    assert args.plugin_id == "clock"
    assert thaw(args.settings) == {"color": [1, 2, 3], "timezone": None}


@pytest.mark.parametrize(
    "payload",
    [
        {"plugin_id": "clock"},
        {"plugin_id": "clock", "settings": {}},
        {"plugin_id": "clock", "settings": [1]},
        {"plugin_id": "clock", "settings": {"": 1}},
        {"plugin_id": "clock", "settings": {"a": {"x" * 200: 1}}},
        {
            "plugin_id": "clock",
            "settings": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}},
        },
        {"plugin_id": "clock", "settings": {"a": 1}, "extra": 1},
        {"settings": {"a": 1}},
    ],
)
def test_a_malformed_configure_is_invalid_payload(payload: dict[str, Any]) -> None:
    with pytest.raises(Rejected) as info:
        decode_request("configure", json.dumps(payload).encode())
    assert isinstance(info.value.error, InvalidPayload)


def test_rotation_takes_a_list_or_the_comma_text_home_assistant_sends() -> None:
    as_list = decode_request("rotation", b'{"order": ["text", "clock"]}')
    as_text = decode_request("rotation", b"text, clock")
    empty = decode_request("rotation", b'{"order": []}')
    assert as_list.args == as_text.args == RotationArgs(("text", "clock"))
    assert empty.args == RotationArgs(())
    with pytest.raises(Rejected) as bad_id:
        decode_request("rotation", b'{"order": ["../etc"]}')
    assert isinstance(bad_id.value.error, InvalidPluginId)
    with pytest.raises(Rejected) as bad_order:
        decode_request("rotation", b'{"order": {"a": 1}}')
    assert isinstance(bad_order.value.error, InvalidPayload)


def test_every_simple_clock_setting_becomes_a_config_entity() -> None:
    entities = setting_entities(
        TOPICS, "clock", "Clock", settings_of(CLOCK_SCHEMA, "clock", {"enabled": True})
    )
    kinds = {e.object_id: e.component for e in entities}
    assert kinds == {
        "plugin_clock_set_display_uduration": "number",
        "plugin_clock_set_format_u24h": "switch",
        "plugin_clock_set_timezone": "text",
        "plugin_clock_set_show_udate": "switch",
        "plugin_clock_set_color": "text",
        "plugin_clock_set_date_ucolor": "text",
    }
    assert all(e.body["entity_category"] == "config" for e in entities)
    assert {e.name for e in entities} >= {"Clock Format 24h", "Clock Display duration"}


def test_switch_sends_a_boolean_and_shows_the_setting() -> None:
    settings = settings_of(CLOCK_SCHEMA, "clock", {"format_24h": False})
    switch = entities_by_key(settings)["format_u24h"]
    assert thaw(send(switch, "ON").settings) == {"format_24h": True}
    assert thaw(send(switch, "OFF").settings) == {"format_24h": False}
    assert shown(switch, settings) == "OFF"


def test_colour_text_round_trips_between_hex_and_rgb() -> None:
    settings = settings_of(CLOCK_SCHEMA, "clock", {"color": [255, 16, 0]})
    colour = entities_by_key(settings)["color"]
    assert shown(colour, settings) == "#ff1000"
    assert thaw(send(colour, "#00FF7f").settings) == {"color": [0, 255, 127]}
    assert colour.body["pattern"] == "^#[0-9A-Fa-f]{6}$"


def test_number_select_and_nested_keys_send_typed_values() -> None:
    settings = settings_of(LEDMATRIX_STYLE, "clock", {"enabled": True, "font_size": 9})
    found = entities_by_key(settings)
    font_size = found["font_usize"]
    assert (font_size.body["min"], font_size.body["max"], font_size.body["step"]) == (4, 16, 1)
    assert thaw(send(font_size, 12.0).settings) == {"font_size": 12}
    assert shown(font_size, settings) == "9"
    assert thaw(send(found["speed"], 2.5).settings) == {"speed": 2.5}
    units = found["units"]
    assert units.component == "select"
    assert units.body["options"] == ["metric", "imperial"]
    assert thaw(send(units, "imperial").settings) == {"units": "imperial"}
    nested = found["customization_dtime_utext_dfont"]
    assert thaw(send(nested, "b.bdf").settings) == {
        "customization": {"time_text": {"font": "b.bdf"}}
    }
    assert shown(nested, settings) == "a.ttf"
    duration = found["display_uduration"]
    assert (duration.body["mode"], duration.body["unit_of_measurement"]) == ("box", "s")
    assert thaw(send(duration, 30).settings) == {"display_duration": 30}


def test_secret_fields_have_no_entity_and_their_value_is_never_published() -> None:
    settings = settings_of(LEDMATRIX_STYLE, "weather", {"api_key": "sk-live-123"})
    entities = setting_entities(TOPICS, "weather", "Weather", settings)
    assert not any("api" in e.object_id for e in entities)
    state = settings_state_message(TOPICS, settings)
    assert b"sk-live-123" not in state.payload
    assert json.loads(state.payload)["settings"]["api_key"] == "***"
    assert settings_data(settings) == json.loads(state.payload)


def test_rotation_entity_shows_and_sends_the_order_as_text() -> None:
    entity = rotation_entity(TOPICS)
    state = rotation_state_message(TOPICS, ["text", "clock"])
    assert entity.body["state_topic"] == state.topic == "ledmatrix/panel/state/rotation"
    text = render(entity.body["value_template"], value_json=json.loads(state.payload))
    assert text == "text, clock"
    sent = render(entity.body["command_template"], value=text)
    assert decode_request("rotation", sent.encode()).args == RotationArgs(("text", "clock"))
    cleared = render(entity.body["command_template"], value="")
    assert decode_request("rotation", cleared.encode()).args == RotationArgs(())
