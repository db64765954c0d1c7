"""Home Assistant MQTT discovery configs. Pure: values in, retained ``Message``s out.

Per-component discovery: ``{prefix}/{component}/{device_id}/{object}/config``.
Every entity carries ``unique_id`` derived from the device id, one shared
``device`` block, ``origin`` and the service's availability topic. Removing a
plugin's entities is an empty retained config on each of its topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.models import InstalledPlugin
from ledmatrix_mqtt.mqtt.codec import MAX_TEXT_CHARS
from ledmatrix_mqtt.mqtt.messages import Message, clear, encode_json, json_message
from ledmatrix_mqtt.mqtt.topics import Topics, object_id

ORIGIN_URL = "https://github.com/ledmatrix-mqtt/ledmatrix-mqtt"
PLUGIN_COMPONENTS: tuple[tuple[str, str], ...] = (("update", "update"), ("switch", "enabled"))


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    name: str
    version: str


def _device(info: DeviceInfo) -> dict[str, Any]:
    return {
        "identifiers": [f"ledmatrix_{info.device_id}"],
        "name": info.name,
        "manufacturer": "ledmatrix-mqtt",
        "model": "RGB LED matrix",
        "sw_version": info.version,
    }


def _common(topics: Topics, info: DeviceInfo, key: str, name: str | None) -> dict[str, Any]:
    return {
        "unique_id": f"ledmatrix_{info.device_id}_{key}",
        "name": name,
        "device": _device(info),
        "origin": {"name": "ledmatrix-mqtt", "sw_version": info.version, "support_url": ORIGIN_URL},
        "availability": [{"topic": topics.availability}],
        "qos": 1,
    }


def _config(topics: Topics, component: str, obj: str, body: dict[str, Any]) -> Message:
    return json_message(topics.discovery(component, obj), body)


def plugin_object(plugin_id: str, suffix: str) -> str:
    return f"plugin_{object_id(plugin_id)}_{suffix}"


def plugin_configs(topics: Topics, info: DeviceInfo, plugin: InstalledPlugin) -> list[Message]:
    """The ``update`` and enable ``switch`` entities of one installed plugin."""
    upd_obj, sw_obj = (plugin_object(plugin.id, s) for _, s in PLUGIN_COMPONENTS)
    update = _common(topics, info, upd_obj, plugin.name or plugin.id)
    update.update(
        state_topic=topics.state_plugin(plugin.id),
        command_topic=topics.command("update"),
        payload_install=encode_json({"plugin_id": plugin.id}).decode(),
        entity_category="config",
    )
    switch = _common(topics, info, sw_obj, f"{plugin.name or plugin.id} enabled")
    switch.update(
        state_topic=topics.state_plugin(plugin.id),
        value_template="{{ 'ON' if value_json.enabled else 'OFF' }}",
        state_on="ON",
        state_off="OFF",
        command_topic=topics.command("enable"),
        payload_on=encode_json({"plugin_id": plugin.id}).decode(),
        payload_off=encode_json({"enabled": False, "plugin_id": plugin.id}).decode(),
        entity_category="config",
        icon="mdi:puzzle",
    )
    return [_config(topics, "update", upd_obj, update), _config(topics, "switch", sw_obj, switch)]


def removed_plugin_configs(topics: Topics, plugin_id: str) -> list[Message]:
    """Empty retained configs: Home Assistant deletes the plugin's entities."""
    return [
        clear(topics.discovery(component, plugin_object(plugin_id, suffix)))
        for component, suffix in PLUGIN_COMPONENTS
    ]


def _buttons(topics: Topics, info: DeviceInfo) -> list[Message]:
    specs = (
        ("reconcile", "Reconcile plugins", "reconcile", "{}", "mdi:sync"),
        ("refresh_store", "Refresh store", "search", '{"refresh":true}', "mdi:store-search"),
        ("next", "Next plugin", "next", "{}", "mdi:skip-next"),
    )
    out = []
    for key, name, command, press, icon in specs:
        body = _common(topics, info, key, name)
        body.update(command_topic=topics.command(command), payload_press=press, icon=icon)
        out.append(_config(topics, "button", key, body))
    return out


def _sensors(topics: Topics, info: DeviceInfo) -> list[Message]:
    specs = (
        ("installed_count", "Installed plugins", topics.state_plugins, "{{ value_json.count }}"),
        ("last_reconcile", "Last reconcile", topics.state_reconcile, "{{ value_json.result }}"),
        ("operation", "Current operation", topics.state_operation, "{{ value_json.summary }}"),
    )
    out = []
    for key, name, topic, template in specs:
        body = _common(topics, info, key, name)
        body.update(state_topic=topic, value_template=template, entity_category="diagnostic")
        if key == "installed_count":
            body.update(state_class="measurement", icon="mdi:puzzle")
        else:
            body["json_attributes_topic"] = topic
        out.append(_config(topics, "sensor", key, body))
    return out


def _panel(topics: Topics, info: DeviceInfo) -> list[Message]:
    light = _common(topics, info, "panel", None)
    light.update(
        command_topic=topics.command("power"),
        payload_on="ON",
        payload_off="OFF",
        state_topic=topics.state_display,
        state_value_template="{{ value_json.power }}",
        brightness_command_topic=topics.command("brightness"),
        brightness_state_topic=topics.state_display,
        brightness_value_template="{{ value_json.brightness }}",
        brightness_scale=100,
        on_command_type="last",
    )
    text = _common(topics, info, "message", "Message")
    text.update(
        command_topic=topics.command("text"),
        state_topic=topics.state_display,
        value_template="{{ value_json.text }}",
        min=0,
        max=MAX_TEXT_CHARS,
        mode="text",
    )
    image = _common(topics, info, "frame", "Panel")
    image.update(image_topic=topics.frame, content_type="image/png")
    return [
        _config(topics, "light", "panel", light),
        _config(topics, "text", "message", text),
        _config(topics, "image", "frame", image),
    ]


def _select(topics: Topics, info: DeviceInfo, options: Sequence[str]) -> Message:
    if not options:  # HA rejects a select without options
        return clear(topics.discovery("select", "show"))
    body = _common(topics, info, "show", "Show plugin")
    body.update(
        command_topic=topics.command("show"),
        state_topic=topics.state_display,
        value_template="{{ value_json.current_plugin }}",
        options=list(options),
        icon="mdi:television-play",
    )
    return _config(topics, "select", "show", body)


def device_configs(
    topics: Topics,
    info: DeviceInfo,
    plugins: Sequence[InstalledPlugin],
    show_options: Sequence[str],
) -> list[Message]:
    """Every discovery config for the device and its installed plugins."""
    out = _buttons(topics, info) + _sensors(topics, info) + _panel(topics, info)
    out.append(_select(topics, info, show_options))
    for plugin in sorted(plugins, key=lambda p: p.id):
        out += plugin_configs(topics, info, plugin)
    return out
