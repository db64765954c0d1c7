"""Command payloads into typed requests, and responses into envelopes. Pure.

A payload is a JSON object; for Home Assistant's convenience a bare value is
accepted where a command has one obvious field. Every failure raises a typed
``LedMatrixError`` whose code goes into the error response.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.core.ids import validate_plugin_id
from ledmatrix_mqtt.core.models import frozen_mapping
from ledmatrix_mqtt.errors import InvalidPayload, LedMatrixError, PayloadTooLarge, UnknownCommand
from ledmatrix_mqtt.mqtt.messages import encode_json
from ledmatrix_mqtt.mqtt.topics import COMMANDS
from ledmatrix_mqtt.runtime.notifications import Notification, from_payload

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_TRANSACTION_CHARS = 64
MAX_TEXT_CHARS = 255

# The field a bare (non-object) payload stands for, per command.
_OBVIOUS_FIELD: Mapping[str, str] = {
    "install": "plugin_id",
    "uninstall": "plugin_id",
    "update": "plugin_id",
    "enable": "plugin_id",
    "disable": "plugin_id",
    "show": "plugin_id",
    "brightness": "value",
    "power": "state",
    "text": "text",
    "search": "query",
    "rotation": "order",  # HA's text entity sends "clock, weather"
    "store_select": "plugin_id",
    "notify": "text",  # HA's notify entity and a plain `mosquitto_pub -m 'Hello'`
    "dismiss": "id",
}


@dataclass(frozen=True)
class NoArgs:
    """list, next, store_install."""


@dataclass(frozen=True)
class PluginArgs:
    """uninstall, store_select."""

    plugin_id: str


@dataclass(frozen=True)
class InstallArgs:
    """Exactly one of ``plugin_id`` (from the registry) or ``url`` is set."""

    plugin_id: str = ""
    url: str = ""
    branch: str = ""
    plugin_path: str = ""


@dataclass(frozen=True)
class UpdateArgs:
    plugin_id: str = ""
    all: bool = False


@dataclass(frozen=True)
class SearchArgs:
    query: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    refresh: bool = False


@dataclass(frozen=True)
class ReconcileArgs:
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class EnableArgs:
    plugin_id: str
    enabled: bool


@dataclass(frozen=True)
class ShowArgs:
    plugin_id: str
    duration: float | None = None


@dataclass(frozen=True)
class BrightnessArgs:
    value: int


@dataclass(frozen=True)
class PowerArgs:
    on: bool


@dataclass(frozen=True)
class TextArgs:
    text: str


@dataclass(frozen=True)
class ConfigureArgs:
    """``settings`` is a JSON merge-patch of the plugin's block (null removes a key)."""

    plugin_id: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class RotationArgs:
    order: tuple[str, ...]


@dataclass(frozen=True)
class NotifyArgs:
    notification: Notification


@dataclass(frozen=True)
class DismissArgs:
    """``notification_id`` None dismisses every notification (showing and queued)."""

    notification_id: str | None = None


@dataclass(frozen=True)
class ScheduleArgs:
    """Merge-patches of the ``schedule`` and ``dim_schedule`` blocks (None: unchanged)."""

    schedule: Mapping[str, Any] | None = None
    dim_schedule: Mapping[str, Any] | None = None


CommandArgs = (
    NoArgs | PluginArgs | InstallArgs | UpdateArgs | SearchArgs | ReconcileArgs
    | EnableArgs | ShowArgs | BrightnessArgs | PowerArgs | TextArgs
    | ConfigureArgs | RotationArgs | NotifyArgs | DismissArgs | ScheduleArgs
)  # fmt: skip


@dataclass(frozen=True)
class Request:
    command: str
    args: CommandArgs
    transaction: str = ""


@dataclass(frozen=True)
class Body:
    """A decoded payload: its fields and the transaction it carries ("" if none)."""

    command: str
    fields: Mapping[str, Any]
    transaction: str = ""


def decode_body(command: str, payload: bytes) -> Body:
    """Step 1: size, encoding, JSON shape and ``transaction``. Raises on bad input."""
    if command not in COMMANDS:
        raise UnknownCommand(f"unknown command {command[:64]!r}; known: {', '.join(COMMANDS)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload is larger than the {MAX_PAYLOAD_BYTES}-byte limit")
    if not payload.strip():
        raise InvalidPayload("empty payload; send {} for a command without arguments")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("payload is not UTF-8 text") from None
    value = _loads(text)
    if isinstance(value, dict):
        return Body(command, value, _transaction(value))
    field = _OBVIOUS_FIELD.get(command)
    if field is None or value is None or isinstance(value, list | dict):
        raise InvalidPayload(f"{command} expects a JSON object")
    return Body(command, {field: value})


def parse_request(body: Body) -> Request:
    """Step 2: the command's own fields into typed arguments."""
    fields = {k: v for k, v in body.fields.items() if k != "transaction"}
    args = _PARSERS[body.command](_Fields(body.command, fields))
    return Request(body.command, args, body.transaction)


def decode_request(command: str, payload: bytes) -> Request:
    return parse_request(decode_body(command, payload))


def encode_response(
    command: str,
    *,
    data: Mapping[str, Any] | None = None,
    error: LedMatrixError | None = None,
    transaction: str = "",
) -> bytes:
    """The response envelope: ``status`` ok with ``data``, or error with ``{code, message}``."""
    out: dict[str, Any] = {"command": command, "transaction": transaction or None}
    if error is None:
        out.update(status="ok", data=dict(data or {}))
    else:
        out.update(status="error", error={"code": error.code, "message": error.message})
    return encode_json(out)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidPayload("JSON nested too deeply") from None
    except ValueError:
        stripped = text.strip()
        if stripped[:1] in ("{", "["):
            raise InvalidPayload("payload is not valid JSON") from None
        return stripped  # a bare string such as a plugin id or ON


def _transaction(value: Mapping[str, Any]) -> str:
    tx = value.get("transaction")
    if tx is None:
        return ""
    if not isinstance(tx, str) or not 0 < len(tx) <= MAX_TRANSACTION_CHARS:
        raise InvalidPayload(f"transaction must be a string of 1-{MAX_TRANSACTION_CHARS} chars")
    return tx


class _Fields:
    """Typed, consuming access to a payload's fields; leftovers are an error."""

    def __init__(self, command: str, fields: dict[str, Any]) -> None:
        self.command = command
        self.fields = dict(fields)

    def done(self) -> None:
        if self.fields:
            names = ", ".join(sorted(str(k)[:32] for k in self.fields)[:5])
            raise InvalidPayload(f"unknown field(s) for {self.command}: {names}")

    def has(self, name: str) -> bool:
        return name in self.fields

    def text(self, name: str, *, limit: int, required: bool = False) -> str:
        value = self.fields.pop(name, None)
        if value is None:
            if required:
                raise InvalidPayload(f"{self.command} needs {name!r}")
            return ""
        if not isinstance(value, str):
            raise InvalidPayload(f"{name} must be a string")
        if len(value) > limit:
            raise InvalidPayload(f"{name} is longer than {limit} characters")
        return value

    def plugin_id(self, *, required: bool = True) -> str:
        value = self.fields.pop("plugin_id", None)
        if value is None and not required:
            return ""
        if value is None:
            raise InvalidPayload(f"{self.command} needs 'plugin_id'")
        if not isinstance(value, str):
            raise InvalidPayload("plugin_id must be a string")
        return validate_plugin_id(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.fields.pop(name, None)
        if value is None:
            return default
        return coerce_bool(value, name)

    def number(self, name: str, low: float, high: float) -> float | None:
        value = self.fields.pop(name, None)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise InvalidPayload(f"{name} must be a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidPayload(f"{name} must be a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise InvalidPayload(f"{name} must be between {low:g} and {high:g}")
        return float(value)

    def tags(self) -> tuple[str, ...]:
        value = self.fields.pop("tags", None)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        ok = isinstance(value, list) and len(value) <= 20
        if not ok or not all(isinstance(t, str) and len(t) <= 64 for t in value):
            raise InvalidPayload("tags must be a list of at most 20 short strings")
        return tuple(value)


def coerce_bool(value: Any, name: str) -> bool:
    """True/False by the package's one boolean rule (``core.config_model.as_flag``)."""
    if (flag := as_flag(value)) is None:
        raise InvalidPayload(f"{name} must be true or false")
    return flag


def _no_args(f: _Fields) -> CommandArgs:
    f.done()
    return NoArgs()


def _plugin(f: _Fields) -> CommandArgs:
    args = PluginArgs(f.plugin_id())
    f.done()
    return args


def _install(f: _Fields) -> CommandArgs:
    if f.has("url"):
        url = f.text("url", limit=512, required=True)
        if not url.startswith(("https://", "http://")):
            raise InvalidPayload("url must be an http(s) URL")
        args = InstallArgs(
            url=url,
            branch=f.text("branch", limit=200),
            plugin_path=f.text("plugin_path", limit=200),
        )
    else:
        args = InstallArgs(plugin_id=f.plugin_id())
    f.done()
    return args


def _update(f: _Fields) -> CommandArgs:
    every = f.flag("all", False)
    plugin_id = f.plugin_id(required=not every)
    if every and plugin_id:
        raise InvalidPayload("update takes either plugin_id or all, not both")
    f.done()
    return UpdateArgs(plugin_id=plugin_id, all=every)


def _search(f: _Fields) -> CommandArgs:
    args = SearchArgs(
        query=f.text("query", limit=200),
        category=f.text("category", limit=64),
        tags=f.tags(),
        refresh=f.flag("refresh", False),
    )
    f.done()
    return args


def _reconcile(f: _Fields) -> CommandArgs:
    args = ReconcileArgs(force=f.flag("force", False), dry_run=f.flag("dry_run", False))
    f.done()
    return args


def _enable(f: _Fields) -> CommandArgs:
    args = EnableArgs(f.plugin_id(), f.flag("enabled", True))
    f.done()
    return args


def _disable(f: _Fields) -> CommandArgs:
    args = EnableArgs(f.plugin_id(), False)
    f.done()
    return args


def _show(f: _Fields) -> CommandArgs:
    args = ShowArgs(f.plugin_id(), f.number("duration", 1, 86400))
    f.done()
    return args


def _brightness(f: _Fields) -> CommandArgs:
    value = f.number("value", 0, 100)
    if value is None:
        raise InvalidPayload("brightness needs 'value' (0-100)")
    f.done()
    return BrightnessArgs(round(value))


def _power(f: _Fields) -> CommandArgs:
    if not f.has("state"):
        raise InvalidPayload("power needs 'state' (ON or OFF)")
    args = PowerArgs(f.flag("state", False))
    f.done()
    return args


def _text(f: _Fields) -> CommandArgs:
    value = f.fields.get("text")
    if isinstance(value, int | float) and not isinstance(value, bool):
        f.fields["text"] = str(value)  # a bare number typed into HA's text box
    args = TextArgs(f.text("text", limit=MAX_TEXT_CHARS, required=True))
    f.done()
    return args


MAX_SETTING_KEY_CHARS = 128
MAX_SETTING_DEPTH = 8  # LEDMatrix schemas nest 3 deep; YAML writing must not recurse without end


def _configure(f: _Fields) -> CommandArgs:
    plugin_id = f.plugin_id()
    settings = f.fields.pop("settings", None)
    if not isinstance(settings, dict) or not settings:
        raise InvalidPayload("configure needs 'settings', a non-empty JSON object")
    _check_setting_keys(settings)
    f.done()
    return ConfigureArgs(plugin_id, frozen_mapping(settings))


def _check_setting_keys(settings: Mapping[str, Any], depth: int = 1) -> None:
    if depth > MAX_SETTING_DEPTH:
        raise InvalidPayload(f"settings nest deeper than {MAX_SETTING_DEPTH} levels")
    for key, value in settings.items():
        if not key or len(key) > MAX_SETTING_KEY_CHARS:
            raise InvalidPayload(f"setting names must be 1-{MAX_SETTING_KEY_CHARS} characters")
        if isinstance(value, dict):
            _check_setting_keys(value, depth + 1)


def _rotation(f: _Fields) -> CommandArgs:
    value = f.fields.pop("order", None)
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise InvalidPayload("rotation needs 'order', a list of plugin ids")
    order = tuple(validate_plugin_id(p) for p in value)
    f.done()
    return RotationArgs(order)


_NOTIFY_FIELDS = ("text", "id", "color", "duration", "repeat", "priority", "hold")


def _notify(f: _Fields) -> CommandArgs:
    if "passes" in f.fields:  # AWTRIX's word for scroll passes
        if "repeat" in f.fields:
            raise InvalidPayload("notify takes repeat or passes, not both")
        f.fields["repeat"] = f.fields.pop("passes")
    value = f.fields.get("text")
    if isinstance(value, int | float) and not isinstance(value, bool):
        f.fields["text"] = str(value)
    picked = {k: f.fields.pop(k) for k in _NOTIFY_FIELDS if k in f.fields}
    f.done()
    return NotifyArgs(from_payload(picked))


def _dismiss(f: _Fields) -> CommandArgs:
    value = f.fields.pop("id", None)
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 64):
        raise InvalidPayload("id must be a notification id (1-64 characters)")
    f.done()
    return DismissArgs(value or None)


def _schedule(f: _Fields) -> CommandArgs:
    blocks: dict[str, Mapping[str, Any] | None] = {}
    for name in ("schedule", "dim_schedule"):
        value = f.fields.pop(name, None)
        if value is not None and not isinstance(value, dict):
            raise InvalidPayload(f"{name} must be a JSON object")
        if value is not None:
            _check_setting_keys(value)
        blocks[name] = frozen_mapping(value) if value else None
    f.done()
    if blocks["schedule"] is None and blocks["dim_schedule"] is None:
        raise InvalidPayload("schedule needs 'schedule' and/or 'dim_schedule', a JSON object")
    return ScheduleArgs(blocks["schedule"], blocks["dim_schedule"])


_PARSERS = {
    "install": _install,
    "uninstall": _plugin,
    "update": _update,
    "list": _no_args,
    "search": _search,
    "reconcile": _reconcile,
    "enable": _enable,
    "disable": _disable,
    "show": _show,
    "next": _no_args,
    "brightness": _brightness,
    "power": _power,
    "text": _text,
    "configure": _configure,
    "rotation": _rotation,
    "store_select": _plugin,
    "store_install": _no_args,
    "notify": _notify,
    "dismiss": _dismiss,
    "schedule": _schedule,
}
