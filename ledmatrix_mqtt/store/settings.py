"""Plugin settings and the rotation order, as the ``configure`` and ``rotation`` commands set them.

Reads the plugin's schema from its folder, checks the change with the pure
core (``core.plugin_settings``) and writes the config file through the config
editor: comments kept, atomic, and nothing written when the change is refused.
``PluginStore`` then runs the store hooks, so the composition root reloads the
plugin with its new settings (the runtime reloads a plugin whose block changed).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from ledmatrix_mqtt.core.ids import PluginId
from ledmatrix_mqtt.core.models import InstalledPlugin
from ledmatrix_mqtt.core.plugin_settings import PluginSettings, apply_changes, public_settings
from ledmatrix_mqtt.core.simple_settings import simple_settings
from ledmatrix_mqtt.errors import InvalidPayload, LedMatrixError, NotInstalled
from ledmatrix_mqtt.passed_checks import PASSED, read_schema

MAX_ROTATION_ENTRIES = 200


class SettingsEditor(Protocol):
    """The config-file edits this service needs (``config_editor.ConfigEditor``)."""

    def plugin_blocks(self) -> dict[str, dict[str, Any]]: ...

    def secrets_block(self, plugin_id: str) -> dict[str, Any]: ...

    def secrets_blocks(self) -> dict[str, dict[str, Any]]: ...

    def update_block(
        self, plugin_id: PluginId, build: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]: ...

    def set_rotation_order(self, order: Sequence[PluginId]) -> bool: ...


class PluginSettingsService:
    """Stateless apart from the editor; every method is safe from any thread."""

    def __init__(self, editor: SettingsEditor, defaults: Mapping[str, Any] | None = None) -> None:
        """``defaults``: runtime keys' effective values when a block omits them
        (``display_duration`` is the display's default duration)."""
        self._editor = editor
        self._defaults = dict(defaults or {})

    def current_many(self, plugins: Sequence[InstalledPlugin]) -> dict[str, PluginSettings]:
        """Each plugin's effective settings (secrets masked) and simple settings, from one
        read of the config and secrets files; a plugin whose schema is unreadable is left
        out."""
        blocks, secrets = self._editor.plugin_blocks(), self._editor.secrets_blocks()
        out: dict[str, PluginSettings] = {}
        for plugin in plugins:
            try:
                schema = read_schema(Path(plugin.path))
            except LedMatrixError:
                continue
            block, hidden = blocks.get(plugin.id) or {}, secrets.get(plugin.id) or {}
            out[plugin.id] = self._public(schema, plugin.id, block, hidden)
        return out

    def configure(self, plugin: InstalledPlugin, changes: Mapping[str, Any]) -> PluginSettings:
        """Merge-patch the plugin's block with ``changes``, validated, then write it.

        ``ConfigError`` naming the key (``invalid_config``) or ``Forbidden`` (a
        secret) leave the config file untouched.
        """
        schema = read_schema(Path(plugin.path))
        secrets = self._editor.secrets_block(plugin.id)

        def build(block: dict[str, Any]) -> dict[str, Any]:
            return apply_changes(schema, plugin.id, block, changes, secrets=secrets, checks=PASSED)

        return self._public(schema, plugin.id, self._editor.update_block(plugin.id, build), secrets)

    def set_rotation_order(
        self, order: Sequence[PluginId], installed: Collection[str]
    ) -> tuple[PluginId, ...]:
        """Write ``display.rotation_order``: these plugins first, the rest after (by id).

        Every entry must be installed, so it is a valid id (the caller checked the
        words where they came in; a name that is not installed is ``NotInstalled``).
        """
        if len(order) > MAX_ROTATION_ENTRIES:
            raise InvalidPayload(f"order lists more than {MAX_ROTATION_ENTRIES} plugins")
        for plugin_id in order:
            if plugin_id not in installed:
                raise NotInstalled(f"plugin {plugin_id!r} is not installed")
        repeated = sorted({p for p in order if order.count(p) > 1})
        if repeated:
            raise InvalidPayload(f"order lists {repeated[0]!r} more than once")
        self._editor.set_rotation_order(list(order))
        return tuple(order)

    def _public(
        self,
        schema: Mapping[str, Any] | None,
        plugin_id: str,
        block: Mapping[str, Any],
        secrets: Mapping[str, Any],
    ) -> PluginSettings:
        shown = public_settings(schema, plugin_id, {**self._defaults, **block}, secrets=secrets)
        return replace(shown, simple=simple_settings(schema))
