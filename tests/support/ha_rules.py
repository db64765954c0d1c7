"""Home Assistant's acceptance rules for MQTT discovery and state, restated for tests.

Each rule is taken from HA's own source (``homeassistant/components/mqtt/*.py``,
release 2025.4), named after where it lives there. These checks run without
HA; the HA suite (tests/ha) proves the same against the real integration.

- ``update.py`` ``MQTT_JSON_UPDATE_SCHEMA``: a JSON state (after the
  ``value_template``) may only have the keys below; any other key, a ``None``
  version, or a ``release_url``/``entity_picture`` that is not a URL makes HA
  log "Schema violation" and drop the whole message.
- ``schemas.py`` ``DEVICE_DISCOVERY_SCHEMA``: a device config has ``dev``
  (identifiers or connections), ``o`` (with ``name``) and ``cmps``; each
  component names a supported ``platform`` and, when it has more than that
  key, a ``unique_id`` (``check_unique_id``).
- platform schemas: what each platform requires (``select`` needs non-empty
  ``options``, ``text`` needs ``min <= max <= 255``, ``image`` exactly one of
  ``image_topic``/``url_topic``...).
- a template that reads ``value_json`` fails with an error in HA's log when
  its state topic is emptied (a removal), unless it tests ``value_json is defined``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

UPDATE_STATE_KEYS = frozenset({
    "installed_version", "latest_version", "title", "release_summary", "release_url",
    "entity_picture", "in_progress", "update_percentage",
})  # fmt: skip
SUPPORTED_PLATFORMS = frozenset({
    "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover",
    "device_automation", "device_tracker", "event", "fan", "humidifier", "image", "lawn_mower",
    "light", "lock", "notify", "number", "scene", "select", "sensor", "siren", "switch", "tag",
    "text", "update", "vacuum", "valve", "water_heater",
})  # fmt: skip
REQUIRED = {  # MQTT_RO_SCHEMA: state_topic; MQTT_RW_SCHEMA: command_topic
    "button": ("command_topic",),
    "select": ("command_topic", "options"),
    "text": ("command_topic",),
    "light": ("command_topic",),
    "switch": ("command_topic",),
    "sensor": ("state_topic",),
    "binary_sensor": ("state_topic",),
    "update": ("state_topic",),
    "image": (),
    "notify": ("command_topic",),
    "number": ("command_topic",),
}
ENTITY_CATEGORIES = ("config", "diagnostic")
_JSON_OF = re.compile(
    r"^\{\{ value_json\.(\w+) \| tojson"
    r" if value_json is defined and value_json\.\1 is defined else '' \}\}$"
)


class Violation(AssertionError):
    """HA would refuse (and log) this message."""


def _url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_update_state(payload: Mapping[str, Any]) -> None:
    """``MQTT_JSON_UPDATE_SCHEMA``: the JSON an update entity gets after its template."""
    extra = sorted(set(payload) - UPDATE_STATE_KEYS)
    if extra:
        raise Violation(f"Schema violation: extra keys not allowed {extra}")
    for key in ("installed_version", "latest_version", "title", "release_summary"):
        if key in payload and not isinstance(payload[key], str | int | float):
            raise Violation(f"Schema violation: {key} is {payload[key]!r}, expected a string")
    for key in ("release_url", "entity_picture"):
        if key in payload and not _url(payload[key]):
            raise Violation(f"Schema violation: {key} {payload[key]!r} is not a URL")
    if "in_progress" in payload and not isinstance(payload["in_progress"], bool):
        raise Violation("Schema violation: in_progress must be a boolean")
    pct = payload.get("update_percentage")
    if pct is not None and (isinstance(pct, bool) or not 0 <= pct <= 100):
        raise Violation(f"Schema violation: update_percentage {pct!r} not in 0..100")


def update_state_seen_by_ha(config: Mapping[str, Any], state: bytes) -> Mapping[str, Any]:
    """What HA's update entity validates: the state itself, or what its template picks
    (``{}``, which HA ignores, when the picked key is missing).

    Only the template form the service uses is understood; any other one fails
    the test rather than being guessed at.
    """
    data = json.loads(state)
    template = config.get("value_template")
    if template is None:
        return dict(data)
    match = _JSON_OF.match(template)
    if match is None:
        raise AssertionError(f"unknown update value_template {template!r}")
    return dict(data.get(match.group(1), {}))


def check_templates(key: str, config: Mapping[str, Any]) -> None:
    """Every template reading ``value_json`` survives an emptied state topic."""
    for name, template in config.items():
        reads = name.endswith("_template") and "value_json" in str(template)
        if reads and "value_json is defined" not in template:
            raise Violation(f"{key}.{name} fails on an emptied state topic: {template}")


def check_component(key: str, platform: str, config: Mapping[str, Any]) -> None:
    """One entity's config (the device-config component or a per-entity config)."""
    if platform not in SUPPORTED_PLATFORMS:
        raise Violation(f"{key}: unsupported platform {platform!r}")
    if not isinstance(config.get("unique_id"), str) or not config["unique_id"]:
        raise Violation(f"{key}: an entity needs a unique_id")
    for required in REQUIRED.get(platform, ()):
        if required not in config:
            raise Violation(f"{key}: {platform} requires {required}")
    if config.get("entity_category", "config") not in ENTITY_CATEGORIES:
        raise Violation(f"{key}: bad entity_category {config['entity_category']!r}")
    if platform == "select" and not (isinstance(config["options"], list) and config["options"]):
        raise Violation(f"{key}: a select needs at least one option")
    if platform == "text" and not 0 <= config.get("min", 0) <= config.get("max", 255) <= 255:
        raise Violation(f"{key}: text length must be min <= max <= 255")
    if platform == "number" and not config.get("min", 1) < config.get("max", 100):
        raise Violation(f"{key}: number needs min < max")
    if platform == "image" and ("image_topic" in config) == ("url_topic" in config):
        raise Violation(f"{key}: image needs exactly one of image_topic, url_topic")
    check_templates(key, config)


def components_of_device(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``DEVICE_DISCOVERY_SCHEMA``; the live components (removal stubs left out)."""
    for required in ("dev", "o", "cmps"):
        if required not in config:
            raise Violation(f"device discovery needs {required!r}")
    if not config["dev"].get("identifiers") and not config["dev"].get("connections"):
        raise Violation("the device needs identifiers or connections")
    if not config["o"].get("name"):
        raise Violation("origin needs a name")
    live = {}
    for key, comp in config["cmps"].items():
        platform = comp.get("platform")
        if platform not in SUPPORTED_PLATFORMS:
            raise Violation(f"{key}: unsupported platform {platform!r}")
        if len(comp) > 1:
            body = {k: v for k, v in comp.items() if k != "platform"}
            check_component(key, platform, body)
            live[key] = comp
    return live


def entities(retained: Mapping[str, bytes], prefix: str, device_id: str) -> dict[str, dict]:
    """Every entity announced for ``device_id``, by key, in either layout.

    Each value is the component config with ``platform``; checks every rule on the way.
    """
    out: dict[str, dict[str, Any]] = {}
    device_topic = f"{prefix}/device/{device_id}/config"
    if retained.get(device_topic):
        out.update(components_of_device(json.loads(retained[device_topic])))
    for topic, payload in retained.items():
        parts = topic.split("/")
        if len(parts) == 5 and parts[0] == prefix and parts[2] == device_id and payload:
            platform, key = parts[1], parts[3]
            config = json.loads(payload)
            check_component(key, platform, config)
            if key in out:
                raise Violation(f"{key} is announced in both layouts")
            out[key] = {"platform": platform, **config}
    return out
