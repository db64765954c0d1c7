"""Atomic, key-preserving edits of the user's config file.

The config file is the user's: edits made by the service (enable/disable a
plugin, add a block for a found plugin, drop the block of an uninstalled one,
plugin settings, the rotation order, schedules) go through a round-trip YAML
editor so comments and every key the user wrote survive, and are written
atomically.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ledmatrix_mqtt.configfile import SECRETS_NAME, new_yaml, parse_yaml, plain, read_yaml
from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.core.ids import PluginId
from ledmatrix_mqtt.errors import ConfigError
from ledmatrix_mqtt.fsutil import atomic_write_bytes


class ConfigEditor:
    """Serialised, atomic edits of the ``plugins`` section of the config file.

    Each edit re-reads the file, changes only the keys it owns, and writes a temp
    file that is fsynced and renamed over the original. Other keys, their order
    and comments are preserved.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._lock = threading.Lock()
        self._blocks: tuple[tuple[int, ...], dict[str, dict[str, Any]]] | None = None

    def _edit(self, change: Callable[[CommentedMap], bool]) -> bool:
        with self._lock:
            doc = self._load()
            if not change(doc):
                return False
            buf = io.StringIO()
            new_yaml().dump(doc, buf)
            atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))
            # what we just wrote is what the next plugin_blocks() would parse again
            self._blocks = (self._signature(), _blocks_of(plain(doc)))
            return True

    def _load(self) -> CommentedMap:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", path=str(self.path)) from exc
        doc = parse_yaml(text, self.path) if text.strip() else None
        if doc is None:
            doc = CommentedMap()
        if not isinstance(doc, CommentedMap):
            raise ConfigError("must be a YAML mapping", path=str(self.path))
        return doc

    @staticmethod
    def _plugins(doc: CommentedMap) -> CommentedMap:
        if not isinstance(doc.get("plugins"), CommentedMap):
            doc["plugins"] = CommentedMap()
        plugins: CommentedMap = doc["plugins"]
        return plugins

    def set_enabled(self, plugin_id: PluginId, enabled: bool) -> bool:
        """Set ``plugins.<id>.enabled``; True if the file changed."""

        def change(doc: CommentedMap) -> bool:
            plugins = self._plugins(doc)
            block = plugins.get(plugin_id)
            if not isinstance(block, CommentedMap):
                block = CommentedMap()
                plugins[plugin_id] = block
            if "enabled" in block and as_flag(block["enabled"]) is enabled:
                return False  # already so (``off`` is false): keep the user's word
            block["enabled"] = enabled
            return True

        return self._edit(change)

    def ensure_block(self, plugin_id: PluginId, *, enabled: bool) -> bool:
        """Add ``plugins.<id>: {enabled: ...}`` only when no block exists."""

        def change(doc: CommentedMap) -> bool:
            plugins = self._plugins(doc)
            if plugin_id in plugins and plugins[plugin_id] is not None:
                return False
            plugins[plugin_id] = CommentedMap(enabled=enabled)
            return True

        return self._edit(change)

    def remove_block(self, plugin_id: PluginId) -> Any:
        """Drop ``plugins.<id>``; returns the removed block (for rollback) or None."""
        removed: list[Any] = []

        def change(doc: CommentedMap) -> bool:
            plugins = doc.get("plugins")
            if not isinstance(plugins, CommentedMap) or plugin_id not in plugins:
                return False
            removed.append(plugins.pop(plugin_id))
            return True

        self._edit(change)
        return removed[0] if removed else None

    def rename_block(self, old_id: PluginId, new_id: PluginId) -> bool:
        """Move ``plugins.<old_id>`` to ``plugins.<new_id>`` (keeping its settings) when
        ``new_id`` has no block yet; True if the file changed.

        Used when a plugin asked for by its registry id (``weather``) installs under
        its canonical manifest id (``ledmatrix-weather``).
        """

        def change(doc: CommentedMap) -> bool:
            plugins = doc.get("plugins")
            if not isinstance(plugins, CommentedMap) or old_id not in plugins:
                return False
            if old_id == new_id or plugins.get(new_id) is not None:
                return False
            plugins[new_id] = plugins.pop(old_id)
            return True

        return self._edit(change)

    def restore_block(self, plugin_id: PluginId, block: Any) -> None:
        """Put back a block returned by :meth:`remove_block` (per-key rollback)."""

        def change(doc: CommentedMap) -> bool:
            self._plugins(doc)[plugin_id] = block
            return True

        self._edit(change)

    def plugin_blocks(self) -> dict[str, dict[str, Any]]:
        """The current ``plugins`` section as plain dicts (secrets not merged).

        Cached on the file's (mtime, size, inode) so a hot list costs one ``stat``.
        """
        signature = self._signature()
        with self._lock:
            if self._blocks is None or self._blocks[0] != signature:
                data = read_yaml(self.path) if signature else {}
                self._blocks = (signature, _blocks_of(data))
            return {k: dict(v) for k, v in self._blocks[1].items()}

    def _signature(self) -> tuple[int, ...]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", path=str(self.path)) from exc
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    # -- plugin settings and rotation order (the configure and rotation commands) ------
    def update_block(
        self, plugin_id: PluginId, build: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Replace ``plugins.<id>`` with ``build(current block)``; returns the new block.

        ``build`` gets the block as plain data and returns the new one, or raises
        to leave the file untouched. It runs under the editor's lock, so no other
        edit slips in between the read and the write. Keys whose value did not
        change keep their comments and formatting; nothing is written when the
        block is unchanged.
        """
        built: list[dict[str, Any]] = []

        def change(doc: CommentedMap) -> bool:
            plugins = doc.get("plugins")
            current = plugins.get(plugin_id) if isinstance(plugins, Mapping) else None
            old = plain_data(current) if isinstance(current, Mapping) else {}
            built.append(build(dict(old)))
            if built[0] == old:
                return False
            block = self._plugins(doc).get(plugin_id)
            if not isinstance(block, CommentedMap):
                block = CommentedMap()
                self._plugins(doc)[plugin_id] = block
            _sync_map(block, built[0])
            return True

        self._edit(change)
        return built[0]

    def set_rotation_order(self, order: Sequence[PluginId]) -> bool:
        """Set ``display.rotation_order`` (removed when empty); True if the file changed."""

        def change(doc: CommentedMap) -> bool:
            display = doc.get("display")
            current = display.get("rotation_order") if isinstance(display, Mapping) else None
            if list(current or []) == list(order):
                return False
            if not isinstance(display, CommentedMap):
                display = CommentedMap()
                doc["display"] = display
            if order:
                display["rotation_order"] = _yaml_value(list(order))
            else:
                display.pop("rotation_order", None)
            return True

        return self._edit(change)

    def update_schedules(self, build: Callable[[Blocks], Blocks]) -> Blocks:
        """Replace the top-level ``schedule`` and ``dim_schedule`` with ``build(current)``.

        ``build`` gets both blocks as plain data (empty when absent) and returns
        the new ones, or raises to leave the file untouched; it runs under the
        editor's lock. Unchanged keys keep their comments; an empty block is
        removed. Returns the blocks as written.
        """
        built: list[Blocks] = []

        def change(doc: CommentedMap) -> bool:
            old = tuple(_plain_block(doc.get(k)) for k in SCHEDULE_KEYS)
            new = build((old[0], old[1]))
            built.append(new)
            if new == old:
                return False
            for key, block in zip(SCHEDULE_KEYS, new, strict=True):
                node = doc.get(key)
                if not block:
                    doc.pop(key, None)
                elif isinstance(node, CommentedMap):
                    _sync_map(node, block)
                else:
                    doc[key] = _yaml_value(block)
            return True

        self._edit(change)
        return built[0]

    def secrets_block(self, plugin_id: str) -> dict[str, Any]:
        """``plugins.<id>`` of the secrets file beside the config (empty if none)."""
        return self.secrets_blocks().get(plugin_id, {})

    def secrets_blocks(self) -> dict[str, dict[str, Any]]:
        """Every ``plugins.<id>`` mapping of the secrets file beside the config."""
        data = read_yaml(self.path.with_name(SECRETS_NAME))
        plugins = data.get("plugins") if isinstance(data, Mapping) else None
        if not isinstance(plugins, Mapping):
            return {}
        return {str(k): dict(v) for k, v in plugins.items() if isinstance(v, Mapping)}


SCHEDULE_KEYS = ("schedule", "dim_schedule")
Blocks = tuple[dict[str, Any], dict[str, Any]]


def _plain_block(node: Any) -> dict[str, Any]:
    return dict(plain_data(node)) if isinstance(node, Mapping) else {}


def plain_data(value: Any) -> Any:
    """Round-trip YAML nodes as plain dicts, lists and scalars."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    return value


# Strings a YAML 1.1 reader (LEDMatrix's PyYAML) takes for base-60 numbers: "21:30" is 1290.
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")


def _yaml_value(value: Any) -> Any:
    """Plain data as YAML nodes; a list of scalars is written inline (``[255, 0, 0]``).

    A time such as ``"21:30"`` is written quoted, so every YAML reader keeps it a string.
    """
    if isinstance(value, str) and _SEXAGESIMAL.fullmatch(value):
        return DoubleQuotedScalarString(value)
    if isinstance(value, Mapping):
        node = CommentedMap()
        _sync_map(node, value)
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq(_yaml_value(v) for v in value)
        if not any(isinstance(v, Mapping | list | tuple) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def _sync_map(node: CommentedMap, target: Mapping[str, Any]) -> None:
    """Make ``node`` equal ``target``, touching only the keys whose value differs."""
    for key in [k for k in node if k not in target]:
        del node[key]
    for key, value in target.items():
        current = node.get(key)
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            _sync_map(current, value)
        elif key not in node or plain_data(current) != value:
            node[key] = _yaml_value(value)


def _blocks_of(data: Any) -> dict[str, dict[str, Any]]:
    """The ``plugins`` section of a plain document, one dict per plugin."""
    plugins = data.get("plugins") if isinstance(data, Mapping) else None
    if not isinstance(plugins, Mapping):
        return {}
    return {str(k): dict(v or {}) for k, v in plugins.items() if isinstance(v, Mapping | None)}
