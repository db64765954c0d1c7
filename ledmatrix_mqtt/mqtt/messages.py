"""The value every builder returns and the connection publishes, and the one JSON rule."""

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
    """Compact, key-sorted UTF-8 JSON, so equal values give equal bytes (dedup by bytes).

    The package's one encoding rule, for every response and retained message: it
    never fails on text. A lone UTF-16 surrogate (from a manifest, a registry entry
    or a plugin's error) cannot be UTF-8; it is written as its JSON escape
    (``\\ud800``), which is valid JSON and decodes to the same string. Only values
    JSON has no form for (e.g. an object) raise ``TypeError``.
    """
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    # Outside string literals the text is ASCII, so any surrogate sits inside a
    # string, where its backslash escape is exactly what ensure_ascii would write.
    return text.encode("utf-8", "backslashreplace")


def json_message(topic: str, value: Any, *, retain: bool = True, qos: int = 1) -> Message:
    return Message(topic, encode_json(value), qos, retain)


def clear(topic: str) -> Message:
    return Message(topic, b"", 1, True)
