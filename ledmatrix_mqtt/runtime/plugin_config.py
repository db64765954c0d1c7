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

import json
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from ledmatrix_mqtt.core.models import thaw
from ledmatrix_mqtt.errors import ConfigError, InvalidManifest

SCHEMA_FILE = "config_schema.json"
RUNTIME_KEYS = ("enabled", "display_duration", "update_interval")
SECRET_MARK = "x-secret"  # noqa: S105 (the schema keyword, not a secret)
REDACTED = "***"


def load_schema(folder: Path) -> Mapping[str, Any] | None:
    """The plugin's schema, None if it has none; ``InvalidManifest`` if it is not valid."""
    path = folder / SCHEMA_FILE
    if not path.is_file():
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(schema, dict):
            raise InvalidManifest(f"{SCHEMA_FILE} must contain a JSON object")
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except (OSError, ValueError) as exc:
        raise InvalidManifest(f"{SCHEMA_FILE} is unreadable: {exc}") from exc
    except jsonschema.SchemaError as exc:
        raise InvalidManifest(f"{SCHEMA_FILE} is not a valid JSON schema: {exc.message}") from exc
    return schema


def merge_defaults(schema: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every missing property that has a schema ``default`` filled in."""
    merged: dict[str, Any] = thaw(config)
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return merged
    for key, sub in properties.items():
        if not isinstance(sub, Mapping):
            continue
        if key not in merged and "default" in sub:
            merged[key] = thaw(sub["default"])
        if sub.get("type") == "object" and isinstance(merged.get(key, {}), Mapping):
            nested = merge_defaults(sub, merged.get(key, {}))
            if nested or key in merged:
                merged[key] = nested
    return merged


def secret_values(schema: Mapping[str, Any], config: Mapping[str, Any]) -> frozenset[str]:
    """The string values of ``config`` at properties the schema marks ``x-secret``."""
    found: set[str] = set()
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return frozenset()
    for key, sub in properties.items():
        value = config.get(key)
        if not isinstance(sub, Mapping) or value is None:
            continue
        if sub.get(SECRET_MARK) is True:
            found.update(_strings(value))
        elif isinstance(value, Mapping):
            found.update(secret_values(sub, value))
    return frozenset(s for s in found if s)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def plugin_secrets(folder: Path, config: Mapping[str, Any]) -> frozenset[str]:
    """``secret_values`` for the plugin in ``folder``; empty if its schema is unreadable."""
    try:
        schema = load_schema(folder)
    except InvalidManifest:
        return frozenset()
    return secret_values(schema, config) if schema is not None else frozenset()


def _encodings(secret: str) -> set[str]:
    """The forms a secret takes in text: as is, and URL-encoded (query strings, paths)."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    }


def redact(text: str, secrets: frozenset[str]) -> str:
    """``text`` with every secret value, plain or URL-encoded, replaced by ``***``."""
    forms = {form for secret in secrets for form in _encodings(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def resolve_config(folder: Path, plugin_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin's effective config; ``ConfigError`` naming the key if it is invalid.

    The error message never contains the value of an ``x-secret`` field.
    """
    schema = load_schema(folder)
    if schema is None:
        return thaw(config)  # type: ignore[no-any-return]
    merged = merge_defaults(schema, config)
    declared = schema.get("properties") or {}
    checked = {k: v for k, v in merged.items() if k in declared or k not in RUNTIME_KEYS}
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(checked))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        key = f"plugins.{plugin_id}" + (f".{where}" if where else "")
        raise ConfigError(redact(error.message, secret_values(schema, merged)), key=key)
    return merged
