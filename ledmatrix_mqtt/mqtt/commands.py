"""The one table of MQTT commands: name, argument parser, bare form and lane. Pure.

Everything else derives from ``COMMANDS``: the codec parses with it, the front
end routes by ``lane``, the README's command table documents it, and the CLI
may import it. A command's arguments are a frozen dataclass
(``command_args``); parsing consumes fields, and leftovers are an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ledmatrix_mqtt.core.ids import validate_plugin_id
from ledmatrix_mqtt.core.models import frozen_mapping
from ledmatrix_mqtt.core.notifications import from_payload
from ledmatrix_mqtt.errors import InvalidPayload
from ledmatrix_mqtt.mqtt.command_args import (
    BrightnessArgs,
    CommandArgs,
    ConfigureArgs,
    DismissArgs,
    EnableArgs,
    Fields,
    InstallArgs,
    NoArgs,
    NotifyArgs,
    PluginArgs,
    PowerArgs,
    ReconcileArgs,
    RotationArgs,
    ScheduleArgs,
    SearchArgs,
    ShowArgs,
    TextArgs,
    UpdateArgs,
)
from ledmatrix_mqtt.mqtt.limits import MAX_TEXT_CHARS

MAX_SETTING_KEY_CHARS = 128
MAX_SETTING_DEPTH = 8  # LEDMatrix schemas nest 3 deep; YAML writing must not recurse without end


class Lane(Enum):
    """Where a command runs.

    ``STORE``: a store mutation, submitted to the store's one operation queue
    (answered when it finishes). ``QUERY``: may wait on the network (search).
    ``DISPLAY``: quick, answered at once (display commands, list, enable/disable).
    """

    STORE = "store"
    QUERY = "query"
    DISPLAY = "display"


def _no_args(f: Fields) -> CommandArgs:
    f.done()
    return NoArgs()


def _plugin(f: Fields) -> CommandArgs:
    args = PluginArgs(f.plugin_id())
    f.done()
    return args


def _install(f: Fields) -> CommandArgs:
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


def _update(f: Fields) -> CommandArgs:
    every = f.flag("all", False)
    plugin_id = f.optional_plugin_id() if every else f.plugin_id()
    if every and plugin_id:
        raise InvalidPayload("update takes either plugin_id or all, not both")
    f.done()
    return UpdateArgs(plugin_id=plugin_id, all=every)


def _search(f: Fields) -> CommandArgs:
    args = SearchArgs(
        query=f.text("query", limit=200),
        category=f.text("category", limit=64),
        tags=f.tags(),
        refresh=f.flag("refresh", False),
    )
    f.done()
    return args


def _reconcile(f: Fields) -> CommandArgs:
    args = ReconcileArgs(force=f.flag("force", False), dry_run=f.flag("dry_run", False))
    f.done()
    return args


def _enable(f: Fields) -> CommandArgs:
    args = EnableArgs(f.plugin_id(), f.flag("enabled", True))
    f.done()
    return args


def _disable(f: Fields) -> CommandArgs:
    args = EnableArgs(f.plugin_id(), False)
    f.done()
    return args


def _show(f: Fields) -> CommandArgs:
    args = ShowArgs(f.plugin_id(), f.number("duration", 1, 86400))
    f.done()
    return args


def _brightness(f: Fields) -> CommandArgs:
    value = f.number("value", 0, 100)
    if value is None:
        raise InvalidPayload("brightness needs 'value' (0-100)")
    f.done()
    return BrightnessArgs(round(value))


def _power(f: Fields) -> CommandArgs:
    if not f.has("state"):
        raise InvalidPayload("power needs 'state' (ON or OFF)")
    args = PowerArgs(f.flag("state", False))
    f.done()
    return args


def _text(f: Fields) -> CommandArgs:
    args = TextArgs(f.text("text", limit=MAX_TEXT_CHARS, required=True))
    f.done()
    return args


def _optional_plugin(f: Fields) -> CommandArgs:
    """store_select: a plugin id, or none (``{}``) to clear the selection."""
    args = PluginArgs(f.optional_plugin_id())
    f.done()
    return args


def _configure(f: Fields) -> CommandArgs:
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


def _rotation(f: Fields) -> CommandArgs:
    value = f.fields.pop("order", None)
    if isinstance(value, str):  # HA's text entity sends "clock, weather"
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise InvalidPayload("rotation needs 'order', a list of plugin ids")
    order = tuple(validate_plugin_id(p) for p in value)
    f.done()
    return RotationArgs(order)


_NOTIFY_FIELDS = ("text", "id", "color", "duration", "repeat", "priority", "hold")


def _notify(f: Fields) -> CommandArgs:
    if "passes" in f.fields:  # AWTRIX's word for scroll passes
        if "repeat" in f.fields:
            raise InvalidPayload("notify takes repeat or passes, not both")
        f.fields["repeat"] = f.fields.pop("passes")
    picked = {k: f.fields.pop(k) for k in _NOTIFY_FIELDS if k in f.fields}
    f.done()
    return NotifyArgs(from_payload(picked))


def _dismiss(f: Fields) -> CommandArgs:
    value = f.fields.pop("id", None)
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 64):
        raise InvalidPayload("id must be a notification id (1-64 characters)")
    f.done()
    return DismissArgs(value or None)


def _schedule(f: Fields) -> CommandArgs:
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


@dataclass(frozen=True)
class CommandSpec:
    """One command. ``bare_field``: the field a non-object payload stands for ("" if
    none); ``verbatim``: a non-object payload is that field's text as sent (``text``:
    "true", "42" or "" are words to show, and an empty payload clears the message);
    ``durable``: it changes the store or config, so its ``transaction`` is remembered
    across a restart (others are deduplicated in memory only)."""

    name: str
    parse: Callable[[Fields], CommandArgs]
    lane: Lane
    bare_field: str = ""
    verbatim: bool = False
    durable: bool = False

    @property
    def long(self) -> bool:
        """Answered when a store operation finishes; progress on ``state/operation``."""
        return self.lane is Lane.STORE


_SPECS = (
    CommandSpec("install", _install, Lane.STORE, "plugin_id", durable=True),
    CommandSpec("uninstall", _plugin, Lane.STORE, "plugin_id", durable=True),
    CommandSpec("update", _update, Lane.STORE, "plugin_id", durable=True),
    CommandSpec("list", _no_args, Lane.DISPLAY),
    CommandSpec("search", _search, Lane.QUERY, "query"),
    CommandSpec("reconcile", _reconcile, Lane.STORE, durable=True),
    CommandSpec("enable", _enable, Lane.DISPLAY, "plugin_id", durable=True),
    CommandSpec("disable", _disable, Lane.DISPLAY, "plugin_id", durable=True),
    CommandSpec("show", _show, Lane.DISPLAY, "plugin_id"),
    CommandSpec("next", _no_args, Lane.DISPLAY),
    CommandSpec("brightness", _brightness, Lane.DISPLAY, "value"),
    CommandSpec("power", _power, Lane.DISPLAY, "state"),
    CommandSpec("text", _text, Lane.DISPLAY, "text", verbatim=True),
    CommandSpec("configure", _configure, Lane.DISPLAY, durable=True),
    CommandSpec("rotation", _rotation, Lane.DISPLAY, "order", durable=True),
    # Home Assistant's store select + Install button
    CommandSpec("store_select", _optional_plugin, Lane.DISPLAY, "plugin_id"),
    CommandSpec("store_install", _no_args, Lane.STORE, durable=True),
    # notifications (HA's notify entity sends the bare text) and schedules
    CommandSpec("notify", _notify, Lane.DISPLAY, "text", verbatim=True),
    CommandSpec("dismiss", _dismiss, Lane.DISPLAY, "id"),
    CommandSpec("schedule", _schedule, Lane.DISPLAY, durable=True),
)

COMMANDS: Mapping[str, CommandSpec] = {spec.name: spec for spec in _SPECS}
