"""Where discovery goes on the broker, and moving it without orphaned entities. Pure.

Two layouts: ``device`` (one retained ``{prefix}/device/<id>/config`` with every
entity under ``cmps``, Home Assistant 2024.11+) and ``entity`` (one retained
``{prefix}/<platform>/<id>/<key>/config`` per entity, any HA version). An
entity's discovery id is ``"<device id> <key>"`` in both, and its unique id
does not depend on the layout, so HA keeps its entity id and history.

``Ledger`` records what the service left on the broker; ``plan`` compares it
with what should be there and returns the messages that get from one to the
other, in an order HA accepts without a warning:

- entity -> device: ``{"migrate_discovery": true}`` on each old topic (HA
  unloads the entity but keeps its registry entry), then an empty retained
  payload there, then the device config, which re-creates the entity;
- device -> entity: the device config is emptied (HA removes the entities),
  then the per-entity configs re-create them under the same unique ids;
- an entity that went away: in the device layout a component with only
  ``platform`` (HA's removal form), in the entity layout an empty config;
- a new device id or prefix: everything at the old place is emptied;
- discovery turned off: everything the ledger records is emptied (``retire``).

No ledger (a first start, or a version that published per-entity configs)
is read as "per-entity configs of today's entities may exist".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledmatrix_mqtt.mqtt.discovery import Component, DeviceInfo, device_block, origin_block
from ledmatrix_mqtt.mqtt.messages import Message, clear, json_message
from ledmatrix_mqtt.mqtt.topics import Topics

MODES = ("device", "entity")
MIGRATE = {"migrate_discovery": True}


@dataclass(frozen=True)
class Ledger:
    """The discovery the service left on the broker: layout, place and components."""

    mode: str
    prefix: str
    device_id: str
    components: Mapping[str, str] = field(default_factory=dict)  # key -> platform

    def to_data(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "prefix": self.prefix,
            "device_id": self.device_id,
            "components": dict(sorted(self.components.items())),
        }

    @classmethod
    def from_data(cls, data: object) -> Ledger | None:
        """The ledger in ``data``, or None when it is not one (then: unknown past)."""
        if not isinstance(data, dict):
            return None
        mode, prefix, device = data.get("mode"), data.get("prefix"), data.get("device_id")
        comps = data.get("components")
        if mode not in MODES or not isinstance(prefix, str) or not isinstance(device, str):
            return None
        if not isinstance(comps, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in comps.items()
        ):
            return None
        return cls(mode, prefix, device, dict(comps))


def device_config(
    topics: Topics,
    info: DeviceInfo,
    components: Sequence[Component],
    removed: Mapping[str, str] | None = None,
) -> Message:
    """The one device discovery message; ``removed`` keys get HA's removal form."""
    gone = removed or {}
    cmps: dict[str, Any] = {key: {"platform": platform} for key, platform in gone.items()}
    for comp in components:
        cmps[comp.key] = {"platform": comp.platform, **comp.body}
    body = {
        "dev": device_block(info),
        "o": origin_block(info),
        "availability": [{"topic": topics.availability}],
        "cmps": cmps,
    }
    return json_message(topics.device_discovery, body)


def entity_config(topics: Topics, info: DeviceInfo, comp: Component) -> Message:
    body = {
        **comp.body,
        "device": device_block(info),
        "origin": origin_block(info),
        "availability": [{"topic": topics.availability}],
    }
    return json_message(topics.discovery(comp.platform, comp.key), body)


def retire(old: Ledger) -> list[Message]:
    """Empty every config ``old`` records (discovery turned off, or moved elsewhere)."""
    there = Topics("", old.device_id, old.prefix)
    if old.mode == "device":
        return [clear(there.device_discovery)]
    return [clear(there.discovery(p, k)) for k, p in sorted(old.components.items())]


def plan(
    topics: Topics,
    info: DeviceInfo,
    mode: str,
    components: Sequence[Component],
    previous: Ledger | None,
) -> tuple[list[Message], Ledger]:
    """Messages that take the broker from ``previous`` to ``components`` in ``mode``."""
    now = {c.key: c.platform for c in components}
    ledger = Ledger(mode, topics.discovery_prefix, topics.device_id, now)
    out: list[Message] = []
    if previous is None:  # unknown past: the per-entity configs of today's entities
        previous = Ledger("entity", ledger.prefix, ledger.device_id, now)
    elif (previous.prefix, previous.device_id) != (ledger.prefix, ledger.device_id):
        out += retire(previous)
        previous = Ledger(mode, ledger.prefix, ledger.device_id, {})
    gone = {k: p for k, p in previous.components.items() if k not in now}
    if mode == "device":
        if previous.mode == "entity":
            for key, platform in sorted(previous.components.items()):
                topic = topics.discovery(platform, key)
                if key in now:  # keep the registry entry for the device config
                    out.append(json_message(topic, MIGRATE))
                out.append(clear(topic))
            gone = {}
        out.append(device_config(topics, info, components, gone))
    else:
        if previous.mode == "device":
            out.append(clear(topics.device_discovery))
            gone = {}
        out += [clear(topics.discovery(p, k)) for k, p in sorted(gone.items())]
        out += [entity_config(topics, info, c) for c in components]
    return out, ledger


def stale_removal(topics: Topics, per_entity: bool, stale: Mapping[str, str]) -> list[Message]:
    """Empty the per-entity configs of ``stale`` components (key -> platform).

    For entities of a plugin that went away while the service was stopped and
    that no ledger knows of. Only done while per-entity configs may exist on
    the broker (``per_entity``): the entity layout, or a device layout whose
    start found no ledger or an entity one. Otherwise HA knows the entity from
    the device config and would log an empty per-entity config as a conflict.
    """
    if not per_entity:
        return []
    return [clear(topics.discovery(p, k)) for k, p in sorted(stale.items())]
