"""The value every builder returns and the connection publishes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One MQTT publication. ``payload`` is bytes so PNG frames and JSON share a type."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True

    @property
    def is_clear(self) -> bool:
        """An empty retained payload: deletes the retained message (and HA entity)."""
        return self.retain and not self.payload

    def json(self) -> Any:
        """The decoded JSON payload (test and debugging convenience)."""
        return json.loads(self.payload) if self.payload else None


def encode_json(value: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON, so equal values give equal bytes (dedup by bytes)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def json_message(topic: str, value: Any, *, retain: bool = True, qos: int = 1) -> Message:
    return Message(topic, encode_json(value), qos, retain)


def clear(topic: str) -> Message:
    return Message(topic, b"", 1, True)
