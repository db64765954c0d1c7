"""Home Assistant entities of the device, as discovery components. Pure.

Each entity is a ``Component``: its platform, its key (the object id, which
with the device id forms HA's discovery id and so must never change) and its
config body. ``ha_layout`` turns the list into retained messages, either one
device config (``{prefix}/device/<id>/config``) or one config per entity.

Templates are written for what HA's platforms accept: they guard against a
cleared (empty) state topic so a removal never makes HA log a template error,
and select templates map values outside the options to ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.models import InstalledPlugin
from ledmatrix_mqtt.mqtt.limits import MAX_TEXT_CHARS
from ledmatrix_mqtt.mqtt.messages import encode_json
from ledmatrix_mqtt.mqtt.settings_entities import SettingEntity
from ledmatrix_mqtt.mqtt.topics import Topics, object_id

ORIGIN_URL = "https://github.com/ledmatrix-mqtt/ledmatrix-mqtt"
PLUGIN_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("update", "update"),
    ("switch", "enabled"),
    ("button", "uninstall"),
)
# The update entity's state: exactly the keys HA's update platform accepts. Nothing
# (HA ignores an empty result) for an emptied topic or a state of an older version.
UPDATE_TEMPLATE = (
    "{{ value_json.update_entity | tojson"
    " if value_json is defined and value_json.update_entity is defined else '' }}"
)
# HA's text entity sends any typed string raw (an empty one when cleared).
TEXT_COMMAND_TEMPLATE = "{{ {'text': value} | tojson }}"


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    name: str
    version: str


@dataclass(frozen=True)
class Component:
    """One HA entity: ``platform``, stable ``key`` (object id) and config ``body``."""

    platform: str
    key: str
    body: Mapping[str, Any]


def device_block(info: DeviceInfo) -> dict[str, Any]:
    return {
        "identifiers": [f"ledmatrix_{info.device_id}"],
        "name": info.name,
        "manufacturer": "ledmatrix-mqtt",
        "model": "RGB LED matrix",
        "sw_version": info.version,
    }


def origin_block(info: DeviceInfo) -> dict[str, Any]:
    return {"name": "ledmatrix-mqtt", "sw_version": info.version, "support_url": ORIGIN_URL}


def _guarded(expr: str, otherwise: str) -> str:
    """A value template that renders ``otherwise`` when the state topic was emptied."""
    return f"{{{{ ({expr}) if value_json is defined else {otherwise} }}}}"


def _guarded_json(expr: str) -> str:
    """A JSON attributes template: ``expr`` as JSON, ``{}`` when the topic was emptied."""
    return f"{{{{ (({expr}) if value_json is defined else {{}}) | tojson }}}}"


def _one_of(expr: str, options: Sequence[str]) -> str:
    """``expr`` if it is one of ``options``, else ``None`` (HA logs an error otherwise).

    Options are validated plugin ids (``[a-z0-9._-]``), so their JSON list is
    also a Jinja list literal.
    """
    return _guarded(f"{expr} if {expr} in {json.dumps(list(options))} else 'None'", "'None'")


def _entity(info: DeviceInfo, platform: str, key: str, name: str | None, **body: Any) -> Component:
    return Component(
        platform, key, {"unique_id": f"ledmatrix_{info.device_id}_{key}", "name": name, **body}
    )


def plugin_object(plugin_id: str, suffix: str) -> str:
    return f"plugin_{object_id(plugin_id)}_{suffix}"


def plugin_components(topics: Topics, info: DeviceInfo, plugin: InstalledPlugin) -> list[Component]:
    """Update entity, enable switch and uninstall button of one installed plugin."""
    label = plugin.name or plugin.id
    target = encode_json({"plugin_id": plugin.id}).decode()
    state_topic = topics.state_plugin(plugin.id)
    upd, sw, rm = (plugin_object(plugin.id, s) for _, s in PLUGIN_SUFFIXES)
    return [
        _entity(
            info, "update", upd, label,
            state_topic=state_topic, value_template=UPDATE_TEMPLATE,
            command_topic=topics.command("update"), payload_install=target,
            entity_category="config", qos=1,
        ),
        _entity(
            info, "switch", sw, f"{label} enabled",
            state_topic=state_topic,
            value_template=_guarded("'ON' if value_json.enabled else 'OFF'", "'None'"),
            state_on="ON", state_off="OFF",
            command_topic=topics.command("enable"), payload_on=target,
            payload_off=encode_json({"enabled": False, "plugin_id": plugin.id}).decode(),
            entity_category="config", icon="mdi:puzzle", qos=1,
        ),
        _entity(
            info, "button", rm, f"Uninstall {label}",
            command_topic=topics.command("uninstall"), payload_press=target,
            entity_category="config", icon="mdi:delete", qos=1,
        ),
    ]  # fmt: skip


def _buttons(topics: Topics, info: DeviceInfo) -> list[Component]:
    specs = (
        ("reconcile", "Reconcile plugins", "reconcile", "{}", "mdi:sync", "config"),
        (
            "refresh_store",
            "Refresh store",
            "search",
            '{"refresh":true}',
            "mdi:store-search",
            "config",
        ),
        ("next", "Next plugin", "next", "{}", "mdi:skip-next", None),
    )
    out = []
    for key, name, command, press, icon, category in specs:
        extra = {"entity_category": category} if category else {}
        out.append(_entity(
            info, "button", key, name,
            command_topic=topics.command(command), payload_press=press, icon=icon, qos=1, **extra,
        ))  # fmt: skip
    return out


def _sensors(topics: Topics, info: DeviceInfo) -> list[Component]:
    op = topics.state_operation
    return [
        _entity(
            info, "sensor", "installed_count", "Installed plugins",
            state_topic=topics.state_plugins, value_template=_guarded("value_json.count", "'None'"),
            state_class="measurement", icon="mdi:puzzle", entity_category="diagnostic", qos=1,
        ),
        _entity(
            info, "sensor", "last_reconcile", "Last reconcile",
            state_topic=topics.state_reconcile,
            value_template=_guarded("value_json.result", "'None'"),
            json_attributes_topic=topics.state_reconcile,
            icon="mdi:sync", entity_category="diagnostic", qos=1,
        ),
        _entity(  # changes on every progress step: off until the user wants it
            info, "sensor", "operation", "Current operation",
            state_topic=op, value_template=_guarded("value_json.summary", "'None'"),
            json_attributes_topic=op, icon="mdi:progress-wrench",
            entity_category="diagnostic", enabled_by_default=False, qos=1,
        ),
        _entity(
            info, "sensor", "last_error", "Last error",
            state_topic=op,
            value_template=_guarded(
                "value_json.last_error.code if value_json.last_error else 'none'", "'None'"
            ),
            json_attributes_topic=op,
            json_attributes_template=_guarded_json("value_json.last_error or {}"),
            icon="mdi:alert-circle-outline", entity_category="diagnostic", qos=1,
        ),
        _entity(
            info, "binary_sensor", "store_problem", "Plugin store",
            state_topic=topics.state_store,
            value_template=_guarded(
                "'ON' if value_json.fetched_at is none or value_json.stale else 'OFF'",
                "'None'",
            ),
            json_attributes_topic=topics.state_store,
            json_attributes_template=_guarded_json("{'fetched_at': value_json.fetched_at}"),
            device_class="problem", entity_category="diagnostic", qos=1,
        ),
    ]  # fmt: skip


def _panel(topics: Topics, info: DeviceInfo) -> list[Component]:
    display = topics.state_display
    return [
        _entity(
            info, "light", "panel", None,
            command_topic=topics.command("power"), payload_on="ON", payload_off="OFF",
            state_topic=display, state_value_template=_guarded("value_json.power", "'None'"),
            brightness_command_topic=topics.command("brightness"),
            brightness_state_topic=display,
            brightness_value_template=_guarded("value_json.brightness", "''"),
            brightness_scale=100, on_command_type="last", qos=1,
        ),
        _entity(
            info, "text", "message", "Message",
            command_topic=topics.command("text"), command_template=TEXT_COMMAND_TEMPLATE,
            state_topic=display, value_template=_guarded("value_json.text", "''"),
            min=0, max=MAX_TEXT_CHARS, mode="text", icon="mdi:message-text", qos=1,
        ),
        _entity(
            info, "image", "frame", "Panel",
            image_topic=topics.frame, content_type="image/png", qos=0,
        ),
    ]  # fmt: skip


_HHMM_PATTERN = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"  # what core.schedule accepts


def _notifications(topics: Topics, info: DeviceInfo) -> list[Component]:
    """The notify entity (``notify.send_message``, Assist), Dismiss and what is showing."""
    notes = topics.state_notifications
    return [
        _entity(
            info, "notify", "notify", None,
            command_topic=topics.command("notify"), command_template=TEXT_COMMAND_TEMPLATE,
            qos=1,
        ),
        _entity(
            info, "button", "dismiss", "Dismiss notifications",
            command_topic=topics.command("dismiss"), payload_press="{}",
            icon="mdi:message-off", qos=1,
        ),
        _entity(
            info, "sensor", "notification", "Notification",
            state_topic=notes,
            value_template=_guarded(
                "value_json.current.text[:255] if value_json.current else 'none'", "'None'"
            ),
            json_attributes_topic=notes,
            json_attributes_template=_guarded_json(
                "{'queue_length': value_json.queue_length,"
                " 'id': value_json.current.id if value_json.current else none,"
                " 'priority': value_json.current.priority if value_json.current else none}"
            ),
            icon="mdi:message-alert", qos=1,
        ),
    ]  # fmt: skip


def _schedule_patch(block: str, field: str, value: str) -> str:
    """A ``cmd/schedule`` command template setting one field of one block."""
    return f"{{{{ {{'{block}': {{'{field}': {value}}}}} | tojson }}}}"


def _schedules(topics: Topics, info: DeviceInfo) -> list[Component]:
    """Switch and start/end times of the active hours and of the dim schedule, and
    the dim brightness. Each sends a one-field merge-patch to ``cmd/schedule``."""
    hours = topics.state_schedule
    out = []
    for block, label in (("schedule", "Schedule"), ("dim_schedule", "Dim schedule")):
        on, off = ({block: {"enabled": flag}} for flag in (True, False))
        out.append(_entity(
            info, "switch", block, label,
            state_topic=hours,
            value_template=_guarded(f"'ON' if value_json.{block}.enabled else 'OFF'", "'None'"),
            state_on="ON", state_off="OFF", command_topic=topics.command("schedule"),
            payload_on=encode_json(on).decode(), payload_off=encode_json(off).decode(),
            entity_category="config", icon="mdi:calendar-clock", qos=1,
        ))  # fmt: skip
        for field, word in (("start_time", "start"), ("end_time", "end")):
            out.append(_entity(
                info, "text", f"{block}_{word}", f"{label} {word}",
                command_topic=topics.command("schedule"),
                command_template=_schedule_patch(block, field, "value"),
                state_topic=hours, value_template=_guarded(f"value_json.{block}.{field}", "''"),
                min=4, max=5, mode="text", pattern=_HHMM_PATTERN,
                entity_category="config", icon="mdi:clock-outline", qos=1,
            ))  # fmt: skip
    out.append(_entity(
        info, "number", "dim_brightness", "Dim brightness",
        command_topic=topics.command("schedule"),
        command_template=_schedule_patch("dim_schedule", "dim_brightness", "value | int"),
        state_topic=hours,
        value_template=_guarded("value_json.dim_schedule.dim_brightness", "'None'"),
        min=0, max=100, step=1, mode="slider", unit_of_measurement="%",
        entity_category="config", icon="mdi:brightness-4", qos=1,
    ))  # fmt: skip
    return out


# The store select's first option: nothing picked yet (HA shows a select without a
# current option as "unknown").
NO_SELECTION = "Choose a plugin"


def _selects(
    topics: Topics, info: DeviceInfo, show: Sequence[str], store: Sequence[str]
) -> list[Component]:
    """Select entities; HA rejects a select without options, so an empty one is left out."""
    out = []
    if show:
        out.append(_entity(
            info, "select", "show", "Show plugin",
            command_topic=topics.command("show"), state_topic=topics.state_display,
            value_template=_one_of("value_json.current_plugin", show),
            options=list(show), icon="mdi:television-play", qos=1,
        ))  # fmt: skip
    if store:
        out.append(_entity(
            info, "select", "store_plugin", "Store plugin",
            command_topic=topics.command("store_select"), state_topic=topics.state_store,
            command_template=(
                f"{{{{ '{{}}' if value == '{NO_SELECTION}' "
                "else {'plugin_id': value} | tojson }}"
            ),
            value_template=_guarded(
                f"value_json.selected if value_json.selected in {json.dumps(list(store))} "
                f"else '{NO_SELECTION}'",
                "'None'",
            ),
            options=[NO_SELECTION, *store], icon="mdi:store", entity_category="config", qos=1,
        ))  # fmt: skip
        out.append(_entity(
            info, "button", "store_install", "Install store plugin",
            command_topic=topics.command("store_install"), payload_press="{}",
            icon="mdi:download", entity_category="config", qos=1,
        ))  # fmt: skip
    return out


def setting_component(info: DeviceInfo, entity: SettingEntity) -> Component:
    """A plugin setting (or the rotation order) as a device component."""
    return _entity(info, entity.component, entity.object_id, entity.name, **entity.body)


def device_components(
    topics: Topics,
    info: DeviceInfo,
    plugins: Sequence[InstalledPlugin],
    show_options: Sequence[str],
    store_options: Sequence[str] = (),
    settings: Sequence[SettingEntity] = (),
) -> list[Component]:
    """Every entity of the device and of its installed plugins, in a stable order."""
    out = _buttons(topics, info) + _sensors(topics, info) + _panel(topics, info)
    out += _notifications(topics, info) + _schedules(topics, info)
    out += _selects(topics, info, show_options, store_options)
    for plugin in sorted(plugins, key=lambda p: p.id):
        out += plugin_components(topics, info, plugin)
    out += [setting_component(info, entity) for entity in settings]
    return out
