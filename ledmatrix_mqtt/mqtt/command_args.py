"""The arguments of MQTT commands: frozen dataclasses, and typed access to payload fields.

Pure. ``Fields`` consumes a payload's fields as it parses them; leftovers are
an error (``InvalidPayload``), so a misspelt field is never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.api import SearchQuery
from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.core.ids import MaybePluginId, PluginId, validate_plugin_id
from ledmatrix_mqtt.core.notifications import Notification
from ledmatrix_mqtt.errors import InvalidPayload


@dataclass(frozen=True)
class NoArgs:
    """list, next."""


@dataclass(frozen=True)
class PluginArgs:
    """uninstall; store_select ("" clears the selection)."""

    plugin_id: MaybePluginId


@dataclass(frozen=True)
class InstallArgs:
    """Exactly one of ``plugin_id`` (from the registry) or ``url`` is set."""

    plugin_id: MaybePluginId = ""
    url: str = ""
    branch: str = ""
    plugin_path: str = ""


@dataclass(frozen=True)
class UpdateArgs:
    plugin_id: MaybePluginId = ""
    all: bool = False


SearchArgs = SearchQuery  # the command's arguments are the store's query


@dataclass(frozen=True)
class ReconcileArgs:
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class EnableArgs:
    plugin_id: PluginId
    enabled: bool


@dataclass(frozen=True)
class ShowArgs:
    plugin_id: PluginId
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

    plugin_id: PluginId
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class RotationArgs:
    order: tuple[PluginId, ...]


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


def coerce_bool(value: Any, name: str) -> bool:
    """True/False by the package's one boolean rule (``core.config_reader.as_flag``)."""
    if (flag := as_flag(value)) is None:
        raise InvalidPayload(f"{name} must be true or false")
    return flag


class Fields:
    """Typed, consuming access to a payload's fields; leftovers are an error."""

    def __init__(self, command: str, fields: Mapping[str, Any]) -> None:
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

    def plugin_id(self) -> PluginId:
        """The command's ``plugin_id``, checked: the one id check on the MQTT path."""
        plugin_id = self.optional_plugin_id()
        if not plugin_id:
            raise InvalidPayload(f"{self.command} needs 'plugin_id'")
        return plugin_id

    def optional_plugin_id(self) -> MaybePluginId:
        value = self.fields.pop("plugin_id", None)
        if value is None:
            return ""
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
