"""A plugin's ``plugins.<id>`` block checked against its ``config_schema.json``.

Defaults from the schema are merged in first (nested objects too), then the
result is validated with jsonschema. Keys the runtime itself reads
(``enabled``, ``display_duration``, ``update_interval``) are accepted even if
the schema forbids additional properties.

Fields marked ``"x-secret": true`` in the schema hold secrets (API keys): their
values never appear in an error message (jsonschema quotes the failing value,
and plugin errors are published on MQTT and logged).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.plugin_settings import resolve, secret_values
from ledmatrix_mqtt.core.redact import redact as redact  # the one redactor
from ledmatrix_mqtt.errors import InvalidManifest
from ledmatrix_mqtt.passed_checks import PASSED, read_schema


def plugin_secrets(folder: Path, config: Mapping[str, Any]) -> frozenset[str]:
    """``secret_values`` for the plugin in ``folder``; empty if its schema is unreadable."""
    try:
        schema = read_schema(folder)
    except InvalidManifest:
        return frozenset()
    return secret_values(schema, config) if schema is not None else frozenset()


def resolve_config(folder: Path, plugin_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin's effective config; ``ConfigError`` naming the key if it is invalid.

    The error message never contains the value of an ``x-secret`` field.
    """
    return resolve(read_schema(folder), plugin_id, config, PASSED)
