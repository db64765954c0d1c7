"""Identifier rules, defined once and used everywhere.

A plugin id is the manifest id, which is also its folder name and its config key.
The rule rejects anything that could escape a folder (``..``, slashes) or clash
with the service's own names (leading dot, empty).
"""

from __future__ import annotations

import re
from typing import Literal, NewType, TypeGuard

from ledmatrix_mqtt.errors import InvalidPluginId

PluginId = NewType("PluginId", str)
"""A string known to satisfy the plugin-id rule. Only the checks below make one, at
the boundary where an id comes in (a command, a manifest, a registry entry, a folder
name); the layers inside take a ``PluginId`` and do not check it again."""

MaybePluginId = PluginId | Literal[""]  # a checked id, or "" where none was given

PLUGIN_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_PLUGIN_ID_RE = re.compile(PLUGIN_ID_PATTERN)

DEVICE_ID_PATTERN = r"^[a-z0-9_-]{1,32}$"
_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)


def is_valid_plugin_id(value: object) -> TypeGuard[PluginId]:
    """True when ``value`` is a string that satisfies the plugin-id rule."""
    return (
        isinstance(value, str)
        and _PLUGIN_ID_RE.fullmatch(value) is not None
        and ".." not in value
        and not value.endswith(".")
    )


def validate_plugin_id(value: object) -> PluginId:
    """Return ``value`` if it is a valid plugin id, else raise ``InvalidPluginId``."""
    if not is_valid_plugin_id(value):
        shown = repr(value)[:80]
        raise InvalidPluginId(
            f"invalid plugin id {shown}: expected 1-64 characters of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit, without '..'"
        )
    return value


def is_valid_device_id(value: object) -> bool:
    return isinstance(value, str) and _DEVICE_ID_RE.fullmatch(value) is not None


def device_id_from_hostname(hostname: str) -> str:
    """Derive a valid device id from a host name (lowercased, other characters -> '-')."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", hostname.lower()).strip("-")[:32]
    return cleaned or "ledmatrix"
