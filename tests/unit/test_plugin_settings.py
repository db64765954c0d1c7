"""The pure plugin-settings core: merge-patch, validation naming the key, secrets, simple kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.core.plugin_settings import (
    REDACTED,
    SimpleSetting,
    apply_changes,
    merge_patch,
    parse_schema,
    public_settings,
    resolve,
)
from ledmatrix_mqtt.core.simple_settings import simple_settings
from ledmatrix_mqtt.errors import ConfigError, Forbidden, InvalidManifest

CLOCK_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "plugins/clock/config_schema.json").read_text()
)
RGB = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 255},
    "minItems": 3,
    "maxItems": 3,
}
# Shaped like the LEDMatrix store's schemas (clock-simple, countdown, a weather plugin).
LEDMATRIX_STYLE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "enabled": {"type": "boolean", "default": True},
        "display_duration": {"type": "number", "default": 15, "minimum": 5, "maximum": 300},
        "api_key": {"type": "string", "x-secret": True, "default": ""},
        "units": {"type": "string", "enum": ["metric", "imperial"], "default": "metric"},
        "font_size": {"type": "integer", "minimum": 4, "maximum": 16, "default": 8},
        "speed": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
        "label": {"type": "string", "maxLength": 30, "default": "Home"},
        "notes": {"type": "string", "maxLength": 4000},
        "show_seconds": {"type": ["boolean", "null"], "default": False},
        "font_color": {**RGB, "x-widget": "color-picker", "default": [255, 255, 255]},
        "background_color": {**RGB, "default": [0, 0, 0]},
        "offsets": {"type": "array", "items": {"type": "integer"}},
        "position_x": {"type": "integer", "default": 0, "x-advanced": True},
        "customization": {
            "type": "object",
            "title": "Display Customization",
            "properties": {
                "time_text": {
                    "type": "object",
                    "title": "Time",
                    "properties": {
                        "font": {"type": "string", "enum": ["a.ttf", "b.bdf"], "default": "a.ttf"},
                        "text_color": {**RGB, "title": "Text Color", "default": [255, 128, 64]},
                    },
                    "additionalProperties": False,
                }
            },
        },
    },
    "required": ["enabled"],
    "additionalProperties": False,
}


def test_merge_patch_sets_replaces_merges_and_null_removes() -> None:
    block = {"a": 1, "keep": True, "nested": {"x": 1, "y": 2}, "list": [1, 2]}
    patched = merge_patch(block, {"a": 2, "nested": {"y": None, "z": 3}, "list": [3], "keep": None})
    assert patched == {"a": 2, "nested": {"x": 1, "z": 3}, "list": [3]}
    assert block == {"a": 1, "keep": True, "nested": {"x": 1, "y": 2}, "list": [1, 2]}


def test_changed_value_is_validated_and_returned_without_defaults() -> None:
    new = apply_changes(CLOCK_SCHEMA, "clock", {"enabled": True}, {"format_24h": False})
    assert new == {"enabled": True, "format_24h": False}


def test_null_removes_the_key_so_the_schema_default_applies() -> None:
    new = apply_changes(CLOCK_SCHEMA, "clock", {"color": [1, 2, 3]}, {"color": None})
    assert new == {}
    assert public_settings(CLOCK_SCHEMA, "clock", new).values["color"] == (255, 160, 40)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"format_24h": "yes"}, "plugins.clock.format_24h"),
        ({"color": [255, 0, 999]}, "plugins.clock.color.2"),
        ({"color": [255, 0]}, "plugins.clock.color"),
        ({"no_such_setting": 1}, "plugins.clock.no_such_setting"),
        ({"display_duration": 0}, "plugins.clock.display_duration"),
        ({"display_duration": "long"}, "plugins.clock.display_duration"),
        ({"update_interval": 10**9}, "plugins.clock.update_interval"),
        ({"enabled": "true"}, "plugins.clock.enabled"),
    ],
)
def test_a_bad_value_raises_invalid_config_naming_the_key(changes: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_changes(CLOCK_SCHEMA, "clock", {"enabled": True}, changes)
    assert caught.value.code == "invalid_config"
    assert caught.value.key == key
    assert caught.value.message.startswith(f"{key}: ")  # the MQTT reply carries only the message


def test_a_missing_required_key_is_named_itself() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    with pytest.raises(ConfigError) as caught:
        apply_changes(schema, "weather", {"city": "Oslo"}, {"city": None})
    assert caught.value.key == "plugins.weather.city"


def test_runtime_keys_are_settable_even_when_the_schema_forbids_extra_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "integer"}},
        "additionalProperties": False,
    }
    changes = {"display_duration": 30, "update_interval": 5, "enabled": False}
    assert apply_changes(schema, "p", {}, changes) == changes


def test_live_priority_is_settable_on_a_schema_that_forbids_extra_keys_and_must_be_a_flag() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    assert apply_changes(schema, "score", {}, {"live_priority": True}) == {"live_priority": True}
    with pytest.raises(ConfigError) as caught:
        apply_changes(schema, "score", {}, {"live_priority": "yes"})
    assert caught.value.key == "plugins.score.live_priority"


def test_without_a_schema_only_the_runtime_keys_are_checked() -> None:
    assert apply_changes(None, "p", {"a": 1}, {"b": {"c": 2}}) == {"a": 1, "b": {"c": 2}}
    with pytest.raises(ConfigError, match="number from 1 to 86400"):
        apply_changes(None, "p", {}, {"display_duration": -1})


def test_an_x_secret_field_cannot_be_set_or_cleared() -> None:
    for value in ("abc123", None):
        with pytest.raises(Forbidden, match="secrets.yaml") as caught:
            apply_changes(LEDMATRIX_STYLE, "weather", {"enabled": True}, {"api_key": value})
        assert caught.value.code == "forbidden"
        assert "plugins.weather.api_key" in caught.value.message


def test_a_key_held_in_secrets_yaml_cannot_be_overridden() -> None:
    secrets = {"customization": {"time_text": {"font": "b.bdf"}}}
    with pytest.raises(Forbidden, match=r"plugins\.weather\.customization\.time_text\.font"):
        apply_changes(
            LEDMATRIX_STYLE, "weather", {"enabled": True},
            {"customization": {"time_text": {"font": "a.ttf"}}}, secrets=secrets,
        )  # fmt: skip


def test_validation_sees_the_secrets_so_a_required_secret_in_secrets_yaml_passes() -> None:
    schema = {
        "type": "object",
        "properties": {"token": {"type": "string", "x-secret": True}, "units": {"type": "string"}},
        "required": ["token"],
    }
    new = apply_changes(schema, "p", {}, {"units": "metric"}, secrets={"token": "s3cr3t-token"})
    assert new == {"units": "metric"}


def test_an_invalid_secret_value_never_appears_in_the_error() -> None:
    schema = {"type": "object", "properties": {"key": {"type": "integer", "x-secret": True}}}
    with pytest.raises(ConfigError) as caught:
        resolve(schema, "p", {"key": "hunter2-secret"})
    assert "hunter2-secret" not in str(caught.value)
    assert caught.value.key == "plugins.p.key"


def test_public_settings_mask_x_secret_fields_and_everything_from_secrets_yaml() -> None:
    block = {"enabled": True, "api_key": "in-the-config-by-mistake"}
    shown = public_settings(
        LEDMATRIX_STYLE, "weather", block, secrets={"customization": {"time_text": {"font": "x"}}}
    )
    text = json.dumps(shown.values, default=list)
    assert "in-the-config-by-mistake" not in text
    assert shown.values["api_key"] == REDACTED
    assert shown.values["customization"]["time_text"]["font"] == REDACTED
    assert shown.values["units"] == "metric"  # defaults merged in


def test_an_unreadable_schema_is_invalid_manifest() -> None:
    for raw in (b"{", b"[]", b'{"type": 12}'):
        with pytest.raises(InvalidManifest):
            parse_schema(raw)


def test_simple_settings_of_a_ledmatrix_style_schema() -> None:
    found = {s.key: s for s in simple_settings(LEDMATRIX_STYLE)}
    assert found["display_duration"] == SimpleSetting(
        "display_duration", "number", "Display duration", 5.0, 300.0, 1.0
    )
    assert found["units"].kind == "enum"
    assert found["units"].options == ("metric", "imperial")
    assert (found["font_size"].kind, found["font_size"].min, found["font_size"].max) == (
        "number", 4.0, 16.0,
    )  # fmt: skip
    assert (found["speed"].min, found["speed"].max, found["speed"].step) == (0.1, 5.0, 0.1)
    assert (found["label"].kind, found["label"].max) == ("text", 30.0)
    assert found["show_seconds"].kind == "boolean"
    assert found["font_color"].kind == "color"
    assert found["background_color"].kind == "color"  # by its name
    nested = found["customization.time_text.text_color"]
    assert nested.kind == "color"
    assert nested.title == "Display Customization Time Text Color"
    assert found["customization.time_text.font"].options == ("a.ttf", "b.bdf")
    # secret, advanced, long text, plain arrays and `enabled` (it has its own switch) are not simple
    for key in ("api_key", "position_x", "notes", "offsets", "enabled"):
        assert key not in found


def test_every_plugin_gets_a_display_duration_number_even_without_a_schema() -> None:
    (only,) = simple_settings(None)
    assert (only.key, only.kind, only.min, only.max) == ("display_duration", "number", 1, 86400)
    clock = [s.key for s in simple_settings(CLOCK_SCHEMA)]
    assert clock == [
        "display_duration", "format_24h", "timezone", "show_date", "color", "date_color",
    ]  # fmt: skip


def test_a_hand_written_runtime_key_does_not_block_changing_another_setting() -> None:
    """The loader accepts ``enabled: "yes"``; configure checks only the keys it changes."""
    assert apply_changes(None, "p", {"enabled": "yes"}, {"x": 1}) == {"enabled": "yes", "x": 1}


def test_credential_named_keys_are_masked_even_without_x_secret() -> None:
    block = {"api_key": "k-1", "weather_token": "t-2", "Password": "p-3", "token_color": [1, 2, 3]}
    shown = public_settings(None, "p", block).values
    assert (shown["api_key"], shown["weather_token"], shown["Password"]) == (REDACTED,) * 3
    assert shown["token_color"] == (1, 2, 3)
    schema = {"type": "object", "properties": {"api_token": {"type": "string", "maxLength": 64}}}
    assert [s.key for s in simple_settings(schema)] == ["display_duration"]
