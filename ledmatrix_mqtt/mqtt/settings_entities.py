"""Plugin settings and the rotation order on MQTT: wire data, retained state, HA entities. Pure.

- ``state/settings/<id>`` (retained) holds a plugin's effective settings with
  secrets masked, the same dict the ``configure`` response carries.
- Each simple setting (``core.simple_settings``) becomes one Home Assistant
  entity with ``entity_category: config``: boolean -> switch, enum -> select,
  number -> number, short string and colour -> text (a colour as ``#rrggbb``).
  Entities read their state from ``state/settings/<id>`` with a
  ``value_template`` and send ``{"plugin_id": ..., "settings": {key: value}}``
  (a merge-patch, nested for dotted keys) to ``cmd/configure`` through a
  ``command_template`` that ends in ``tojson``.
- ``state/rotation`` (retained) holds the effective rotation order; a text
  entity edits it as ``clock, weather`` through ``cmd/rotation``.

Builders return component bodies without the shared fields (``unique_id``,
``device``, ``origin``, availability); ``discovery`` adds those, so per-entity
and device discovery share the bodies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.models import thaw
from ledmatrix_mqtt.core.plugin_settings import PluginSettings, SimpleSetting
from ledmatrix_mqtt.mqtt.messages import Message, clear, json_message
from ledmatrix_mqtt.mqtt.topics import Topics, object_id

COMPONENT_OF_KIND: Mapping[str, str] = {
    "boolean": "switch",
    "enum": "select",
    "number": "number",
    "text": "text",
    "color": "text",
}
ROTATION_OBJECT = "rotation_order"


@dataclass(frozen=True)
class SettingEntity:
    """One HA entity: ``component`` and discovery ``object_id`` plus its own config keys."""

    component: str
    object_id: str
    name: str
    body: Mapping[str, Any]


def settings_data(settings: PluginSettings) -> dict[str, Any]:
    """The wire form of a plugin's settings (``configure`` response and retained state)."""
    return {"plugin_id": settings.plugin_id, "settings": thaw(settings.values)}


def settings_state_message(topics: Topics, settings: PluginSettings) -> Message:
    return json_message(topics.state_plugin_settings(settings.plugin_id), settings_data(settings))


def removed_settings_state(topics: Topics, plugin_id: str) -> Message:
    return clear(topics.state_plugin_settings(plugin_id))


def settings_object_prefix(plugin_id: str) -> str:
    return f"plugin_{object_id(plugin_id)}_set_"


def setting_entities(
    topics: Topics, plugin_id: str, plugin_name: str, settings: PluginSettings
) -> tuple[SettingEntity, ...]:
    """One entity per simple setting of the plugin."""
    return tuple(
        _entity(topics, plugin_id, plugin_name or plugin_id, setting)
        for setting in settings.simple
        if setting.kind in COMPONENT_OF_KIND
    )


def _entity(topics: Topics, plugin_id: str, plugin_name: str, s: SimpleSetting) -> SettingEntity:
    body: dict[str, Any] = {
        "command_topic": topics.command("configure"),
        "command_template": _command_template(plugin_id, s),
        "state_topic": topics.state_plugin_settings(plugin_id),
        "value_template": _value_template(s),
        "entity_category": "config",
    }
    if s.kind == "boolean":
        body.update(state_on="ON", state_off="OFF")
    elif s.kind == "enum":
        body["options"] = list(s.options)
    elif s.kind == "number":
        body.update(min=s.min, max=s.max, step=s.step, mode="auto")
        if s.key == "display_duration":
            body.update(mode="box", unit_of_measurement="s", icon="mdi:timer-outline")
    elif s.kind == "text":
        body.update(min=int(s.min or 0), max=int(s.max or 255), mode="text")
        if s.pattern:
            body["pattern"] = s.pattern
    else:  # color
        body.update(min=7, max=7, mode="text", pattern=s.pattern, icon="mdi:palette")
    obj = settings_object_prefix(plugin_id) + object_id(s.key)
    return SettingEntity(COMPONENT_OF_KIND[s.kind], obj, f"{plugin_name} {s.title}", body)


def _lookup(s: SimpleSetting) -> str:
    return "value_json.settings" + "".join(f"[{json.dumps(part)}]" for part in s.path)


# What an entity shows while its state topic is emptied (HA's "no value" payloads).
_WHEN_EMPTIED: Mapping[str, str] = {"text": "", "color": "#000000"}


def _value_template(s: SimpleSetting) -> str:
    """Reads the setting; renders a "no value" payload when the state topic was emptied."""
    at = _lookup(s)
    if s.kind == "boolean":
        shown = f"{{{{ 'ON' if {at} else 'OFF' }}}}"
    elif s.kind == "color":
        shown = (
            f"{{% set c = {at} %}}{{{{ '#%02x%02x%02x' | format(c[0], c[1], c[2]) if c else '' }}}}"
        )
    else:
        shown = f"{{{{ {at} }}}}"
    emptied = _WHEN_EMPTIED.get(s.kind, "None")
    return f"{{% if value_json is defined %}}{shown}{{% else %}}{emptied}{{% endif %}}"


def _command_template(plugin_id: str, s: SimpleSetting) -> str:
    value = {
        "boolean": "value == 'ON'",
        "number": "value | int" if s.integer else "value | float",
        "color": "[v[0:2] | int(0, 16), v[2:4] | int(0, 16), v[4:6] | int(0, 16)]",
    }.get(s.kind, "value")
    nested = value
    for part in reversed(s.path):
        nested = f"{{{json.dumps(part)}: {nested}}}"
    prefix = "{% set v = value | replace('#', '') %}" if s.kind == "color" else ""
    payload = f'{{"plugin_id": {json.dumps(plugin_id)}, "settings": {nested}}}'
    return f"{prefix}{{{{ {payload} | tojson }}}}"


def rotation_data(rotation: Sequence[str]) -> dict[str, Any]:
    """The effective rotation order (``rotation`` response and retained state)."""
    return {"order": list(rotation)}


def rotation_state_message(topics: Topics, rotation: Sequence[str]) -> Message:
    return json_message(topics.state_rotation, rotation_data(rotation))


def rotation_entity(topics: Topics) -> SettingEntity:
    """A text entity showing and setting the order as ``clock, weather``."""
    body = {
        "command_topic": topics.command("rotation"),
        "command_template": '{{ {"order": value} | tojson }}',  # "" (cleared) -> by id
        "state_topic": topics.state_rotation,
        "value_template": "{{ value_json.order | join(', ') if value_json is defined else '' }}",
        "min": 0,
        "max": 255,
        "mode": "text",
        "entity_category": "config",
        "icon": "mdi:sort",
    }
    return SettingEntity("text", ROTATION_OBJECT, "Rotation order", body)
