"""A plugin's settings: its ``plugins.<id>`` block checked against its ``config_schema.json``.

Pure: no file access. The runtime (loading a plugin) and the store (the
``configure`` command) share these functions, so a block the store accepts is
exactly a block the runtime loads.

- Defaults from the schema are merged in first (nested objects too), then the
  result is validated with jsonschema. Keys the runtime itself reads
  (``enabled``, ``display_duration``, ``update_interval``) are accepted even if
  the schema forbids additional properties.
- Fields marked ``"x-secret": true`` hold secrets (API keys): their values never
  appear in an error message or in :func:`public_settings`, and
  :func:`apply_changes` refuses to set them (they belong in ``secrets.yaml``).
- A :class:`Checks` (optional) says where checks run (``core.schema_check``;
  jsonschema in this process without one) and remembers checks that passed, by
  a digest of exactly what was checked, so an unchanged schema and block are
  not checked again. A failing check is never remembered.
- Changes use JSON merge-patch semantics (RFC 7386): a key set to a value
  replaces it, a key set to ``null`` removes it (so the schema default applies),
  a nested object is merged key by key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ledmatrix_mqtt.core.models import frozen_mapping, thaw
from ledmatrix_mqtt.core.redact import REDACTED, redact
from ledmatrix_mqtt.core.schema_check import IN_PROCESS, CheckFailed, SchemaChecker, is_plain_json
from ledmatrix_mqtt.errors import ConfigError, Forbidden, InvalidManifest

SCHEMA_FILE = "config_schema.json"
RUNTIME_KEYS = ("enabled", "display_duration", "update_interval", "live_priority")
SECRET_MARK = "x-secret"  # noqa: S105 (the schema keyword, not a secret)
# A credential by its name, for plugins whose schema does not mark it (or that have none).
_CREDENTIAL_NAME = re.compile(r"(?i)(.*[_-])?(api[_-]?key|token|secret|password|passwd)")
# Bounds the service config applies to the runtime keys (core.config_model._plugins).
DURATION_RANGE = (1.0, 86400.0)


class Checks(Protocol):
    """Where schema checks run, and the digests of those that passed
    (``ledmatrix_mqtt.passed_checks``)."""

    @property
    def checker(self) -> SchemaChecker: ...

    def known(self, digest: str) -> bool: ...

    def remember(self, digest: str) -> None: ...


def _digest(kind: str, data: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\0" + data).hexdigest()


def _instance_digest(schema: Mapping[str, Any], instance: Mapping[str, Any]) -> str | None:
    """The digest of one validation, None when the data is not plain JSON (not memoised)."""
    if not is_plain_json(instance):
        return None
    text = json.dumps([schema, instance], sort_keys=True, separators=(",", ":"))
    return _digest("instance", text.encode())


@dataclass(frozen=True)
class SimpleSetting:
    """A setting one Home Assistant entity can edit (see ``core.simple_settings``).

    ``key`` is dotted for nested fields (``customization.font``); ``kind`` is
    boolean, enum, number, text or color.
    """

    key: str
    kind: str
    title: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    pattern: str = ""
    integer: bool = False

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


@dataclass(frozen=True)
class PluginSettings:
    """A plugin's effective settings as the outside world may see them.

    ``values`` has the schema defaults merged in and every secret masked
    (``***``); it is safe to publish. ``simple`` lists the settings Home
    Assistant can edit with one entity each.
    """

    plugin_id: str
    values: Mapping[str, Any]
    simple: tuple[SimpleSetting, ...] = ()


def parse_schema(raw: bytes | str, checks: Checks | None = None) -> Mapping[str, Any]:
    """A ``config_schema.json`` text as a checked JSON schema; ``InvalidManifest`` if it is not."""
    try:
        schema = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidManifest(f"{SCHEMA_FILE} is unreadable: {exc}") from exc
    if not isinstance(schema, dict):
        raise InvalidManifest(f"{SCHEMA_FILE} must contain a JSON object")
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    digest = _digest("schema", data)
    if checks is not None and checks.known(digest):
        return schema
    try:
        problem = (checks.checker if checks is not None else IN_PROCESS).schema_problem(schema)
    except CheckFailed as exc:
        raise InvalidManifest(f"{SCHEMA_FILE} could not be checked: {exc.reason}") from None
    if problem is not None:
        raise InvalidManifest(f"{SCHEMA_FILE} is not a valid JSON schema: {problem}")
    if checks is not None:
        checks.remember(digest)
    return schema


def properties_of(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema's ``properties`` (empty when it declares none)."""
    properties = schema.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def merge_defaults(schema: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every missing property that has a schema ``default`` filled in."""
    merged: dict[str, Any] = thaw(config)
    for key, sub in properties_of(schema).items():
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
    for key, sub in properties_of(schema).items():
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
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def resolve(
    schema: Mapping[str, Any] | None,
    plugin_id: str,
    config: Mapping[str, Any],
    checks: Checks | None = None,
) -> dict[str, Any]:
    """The plugin's effective config; ``ConfigError`` naming the key if it is invalid.

    Without a schema the block is taken as written. The error message never
    contains the value of an ``x-secret`` field.
    """
    if schema is None:
        return thaw(config)  # type: ignore[no-any-return]
    merged = merge_defaults(schema, config)
    declared = properties_of(schema)
    checked = {k: v for k, v in merged.items() if k in declared or k not in RUNTIME_KEYS}
    digest = _instance_digest(schema, checked) if checks is not None else None
    if checks is not None and digest is not None and checks.known(digest):
        return merged
    try:
        found = (checks.checker if checks is not None else IN_PROCESS).first_violation(
            schema, checked
        )
    except CheckFailed as exc:
        raise ConfigError(
            redact(exc.reason, secret_values(schema, merged)), key=f"plugins.{plugin_id}"
        ) from None
    if found is not None:
        key = ".".join([f"plugins.{plugin_id}", *(str(p) for p in found.path)])
        raise ConfigError(redact(found.message, secret_values(schema, merged)), key=key)
    if checks is not None and digest is not None:
        checks.remember(digest)
    return merged


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge-patch of plain data: ``None`` removes, objects merge, rest replaces."""
    out: dict[str, Any] = thaw(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping):
            base = out.get(key)
            out[key] = merge_patch(base if isinstance(base, Mapping) else {}, value)
        else:
            out[key] = thaw(value)
    return out


def check_runtime_keys(plugin_id: str, block: Mapping[str, Any]) -> None:
    """The keys the runtime reads itself, whatever the schema says (``ConfigError`` naming one)."""
    for flag in ("enabled", "live_priority"):
        if flag in block and not isinstance(block[flag], bool):
            raise ConfigError("must be true or false", key=f"plugins.{plugin_id}.{flag}")
    low, high = DURATION_RANGE
    for name in ("display_duration", "update_interval"):
        if name not in block:
            continue
        value = block[name]
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(
                f"must be a number from {low:g} to {high:g}", key=f"plugins.{plugin_id}.{name}"
            )


def apply_changes(
    schema: Mapping[str, Any] | None,
    plugin_id: str,
    block: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    secrets: Mapping[str, Any] | None = None,
    checks: Checks | None = None,
) -> dict[str, Any]:
    """The new ``plugins.<id>`` block after ``changes`` (a merge-patch), validated.

    ``block`` is what the config file holds; ``secrets`` the plugin's part of
    ``secrets.yaml`` (merged over the block, as the loader does). Raises
    ``Forbidden`` for an ``x-secret`` field or a key held in ``secrets.yaml``,
    ``ConfigError`` for a bad value, its message starting with the key
    (``plugins.clock.color.2: 999 is greater than the maximum of 255``).
    Returns the block to write (without defaults or secrets).
    """
    secrets = secrets or {}
    _refuse_secret_keys(schema or {}, plugin_id, changes, secrets)
    new_block = merge_patch(block, changes)
    try:
        check_runtime_keys(plugin_id, {k: new_block[k] for k in changes if k in new_block})
        resolve(schema, plugin_id, merge_patch(new_block, secrets), checks)
    except ConfigError as exc:  # the reply carries only the message: it must name the key
        raise ConfigError(f"{exc.key}: {exc.message}", key=exc.key) from None
    return new_block


def _refuse_secret_keys(
    schema: Mapping[str, Any],
    plugin_id: str,
    changes: Mapping[str, Any],
    secrets: Mapping[str, Any],
    prefix: str = "",
) -> None:
    declared = properties_of(schema)
    for key, value in changes.items():
        sub = declared.get(key)
        where = f"plugins.{plugin_id}.{prefix}{key}"
        held = secrets.get(key)
        if (isinstance(sub, Mapping) and sub.get(SECRET_MARK) is True) or (
            held is not None and not (isinstance(held, Mapping) and isinstance(value, Mapping))
        ):
            raise Forbidden(f"{where} is a secret: put it in secrets.yaml, not over MQTT")
        if isinstance(value, Mapping):
            nested_schema = sub if isinstance(sub, Mapping) else {}
            nested_secrets = held if isinstance(held, Mapping) else {}
            _refuse_secret_keys(nested_schema, plugin_id, value, nested_secrets, f"{prefix}{key}.")


def public_settings(
    schema: Mapping[str, Any] | None,
    plugin_id: str,
    block: Mapping[str, Any],
    *,
    secrets: Mapping[str, Any] | None = None,
) -> PluginSettings:
    """The effective settings (defaults merged) with every secret shown as ``***``.

    Masked: fields the schema marks ``x-secret``, every key whose value comes
    from ``secrets.yaml``, and keys named like a credential (``api_key``,
    ``*_token``, ``password``) in case a schema forgot the mark. Never raises on
    an invalid block (it is shown as is).
    """
    secrets = secrets or {}
    merged = merge_patch(block, secrets)
    values = merge_defaults(schema, merged) if schema is not None else merged
    return PluginSettings(plugin_id, frozen_mapping(_mask(schema or {}, values, secrets)))


def looks_like_credential(key: str) -> bool:
    """``api_key``, ``weather_token``, ``password``...: masked even without ``x-secret``."""
    return _CREDENTIAL_NAME.fullmatch(key) is not None


def _mask(
    schema: Mapping[str, Any], values: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, Any]:
    declared = properties_of(schema)
    out: dict[str, Any] = {}
    for key, value in values.items():
        sub = declared.get(key)
        sub = sub if isinstance(sub, Mapping) else {}
        held = secrets.get(key)
        if (
            sub.get(SECRET_MARK) is True
            or (held is not None and not isinstance(held, Mapping))
            or (looks_like_credential(key) and not isinstance(value, Mapping))
        ):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = _mask(sub, value, held if isinstance(held, Mapping) else {})
        else:
            out[key] = value
    return out
