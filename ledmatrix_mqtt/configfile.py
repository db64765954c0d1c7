"""Read the YAML config (plus its secrets file) and make atomic, key-preserving edits.

The config file is the user's: edits made by the service (enable/disable a
plugin, add a block for a found plugin, drop the block of an uninstalled one)
go through a round-trip YAML editor so comments and every key the user wrote
survive, and are written atomically. Secrets live in ``secrets.yaml`` beside
the config and are never written into the main file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import threading
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ledmatrix_mqtt.core.config_model import AppConfig, parse_config
from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.core.ids import device_id_from_hostname, validate_plugin_id
from ledmatrix_mqtt.errors import ConfigError
from ledmatrix_mqtt.fsutil import atomic_write_bytes

_LOG = logging.getLogger(__name__)
SECRETS_NAME = "secrets.yaml"


def system_timezone() -> str:
    """The system's IANA zone name, from $TZ, /etc/timezone or /etc/localtime."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz:
        return tz
    try:
        text = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if text:
            return text
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"


def _yaml() -> YAML:
    """The one YAML reader/writer: ruamel round-trip (YAML 1.2, comments kept).

    Only ``true``/``false`` are YAML booleans; words like ``on``/``off`` stay
    strings and every flag reads them through ``as_flag``. Duplicate keys are
    an error. A new instance per use: ruamel's objects are not thread-safe.
    """
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines (default 80)
    return yaml


def _plain(value: Any) -> Any:
    """ruamel's round-trip types as plain dicts, lists, str, int, float and bool."""
    if isinstance(value, Mapping):
        return {
            str(k) if not isinstance(k, int | float) else k: _plain(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _key_path(text: str, line: int, column: int) -> str:
    """The dotted path of the block-style key at ``line``/``column`` (0-based), read from
    the indentation of the lines above it (``plugins.clock`` for a nested ``clock:``)."""
    lines = text.splitlines()
    if line >= len(lines):
        return ""
    parts = [lines[line][column:].split(":", 1)[0].strip().strip("'\"")]
    indent = column
    for above in reversed(lines[:line]):
        stripped = above.lstrip()
        depth = len(above) - len(stripped)
        if stripped and not stripped.startswith("#") and depth < indent and ":" in stripped:
            parts.insert(0, stripped.split(":", 1)[0].strip().strip("'\""))
            indent = depth
            if depth == 0:
                break
    return ".".join(parts)


def _yaml_error(exc: YAMLError, path: Path, text: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    if isinstance(exc, DuplicateKeyError):
        first = getattr(exc, "context_mark", None)
        key = _key_path(text, mark.line, mark.column) if mark else ""
        name = key.rsplit(".", 1)[-1]
        was = f"; first at line {first.line + 1}" if first else ""
        return ConfigError(
            f"duplicate key {name!r}{where}{was}: keep one of them", path=str(path), key=key
        )
    return ConfigError(f"invalid YAML{where}", path=str(path))


def _parse_yaml(text: str, path: Path) -> Any:
    """The round-trip document for ``text`` (None when empty); ``ConfigError`` when invalid."""
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        raise _yaml_error(exc, path, text) from exc


def _read_yaml(path: Path, *, must_exist: bool = False) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(
                "file not found (copy config/config.example.yaml there to start)", path=str(path)
            ) from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot read: {reason}", path=str(path)) from exc
    return _plain(_parse_yaml(text, path)) or {}


def zone_exists(name: str) -> bool:
    """Whether ``name`` is a time zone the system's zoneinfo knows (every name passes on
    a system with no zone database at all: nothing to check against)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return not zoneinfo.available_timezones()
    return True


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(extra, Mapping):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return extra


def load_config(path: str | os.PathLike[str], *, must_exist: bool = False) -> AppConfig:
    """Load, merge secrets, validate. Raises ``ConfigError`` naming the file and key
    (``ConfigErrors`` listing every problem when there are several).

    A missing config file is an error with ``must_exist`` (the CLI and the
    service), otherwise it means "all defaults". ``state_dir`` is resolved
    against the config file's folder.
    """
    cfg_path = Path(path).absolute()
    data = _read_yaml(cfg_path, must_exist=must_exist)
    if not isinstance(data, Mapping):
        raise ConfigError("must be a YAML mapping", path=str(cfg_path))
    secrets_path = cfg_path.with_name(SECRETS_NAME)
    secrets = _read_yaml(secrets_path)
    if not isinstance(secrets, Mapping):
        raise ConfigError("must be a YAML mapping", path=str(secrets_path))
    merged = _deep_merge(data, secrets)
    config = parse_config(
        merged,
        path=str(cfg_path),
        hostname_id=device_id_from_hostname(socket.gethostname()),
        system_tz=system_timezone(),
        zone_ok=zone_exists,
    )
    state_dir = Path(config.state_dir)
    if not state_dir.is_absolute():
        state_dir = (cfg_path.parent / state_dir).resolve()
    return replace(config, state_dir=str(state_dir))


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
            _yaml().dump(doc, buf)
            atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))
            return True

    def _load(self) -> CommentedMap:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", path=str(self.path)) from exc
        doc = _parse_yaml(text, self.path) if text.strip() else None
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

    def set_enabled(self, plugin_id: str, enabled: bool) -> bool:
        """Set ``plugins.<id>.enabled``; True if the file changed."""
        validate_plugin_id(plugin_id)

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

    def ensure_block(self, plugin_id: str, *, enabled: bool) -> bool:
        """Add ``plugins.<id>: {enabled: ...}`` only when no block exists."""
        validate_plugin_id(plugin_id)

        def change(doc: CommentedMap) -> bool:
            plugins = self._plugins(doc)
            if plugin_id in plugins and plugins[plugin_id] is not None:
                return False
            plugins[plugin_id] = CommentedMap(enabled=enabled)
            return True

        return self._edit(change)

    def remove_block(self, plugin_id: str) -> Any:
        """Drop ``plugins.<id>``; returns the removed block (for rollback) or None."""
        validate_plugin_id(plugin_id)
        removed: list[Any] = []

        def change(doc: CommentedMap) -> bool:
            plugins = doc.get("plugins")
            if not isinstance(plugins, CommentedMap) or plugin_id not in plugins:
                return False
            removed.append(plugins.pop(plugin_id))
            return True

        self._edit(change)
        return removed[0] if removed else None

    def rename_block(self, old_id: str, new_id: str) -> bool:
        """Move ``plugins.<old_id>`` to ``plugins.<new_id>`` (keeping its settings) when
        ``new_id`` has no block yet; True if the file changed.

        Used when a plugin asked for by its registry id (``weather``) installs under
        its canonical manifest id (``ledmatrix-weather``).
        """
        validate_plugin_id(old_id)
        validate_plugin_id(new_id)

        def change(doc: CommentedMap) -> bool:
            plugins = doc.get("plugins")
            if not isinstance(plugins, CommentedMap) or old_id not in plugins:
                return False
            if old_id == new_id or plugins.get(new_id) is not None:
                return False
            plugins[new_id] = plugins.pop(old_id)
            return True

        return self._edit(change)

    def restore_block(self, plugin_id: str, block: Any) -> None:
        """Put back a block returned by :meth:`remove_block` (per-key rollback)."""
        validate_plugin_id(plugin_id)

        def change(doc: CommentedMap) -> bool:
            self._plugins(doc)[plugin_id] = block
            return True

        self._edit(change)

    def plugin_blocks(self) -> dict[str, dict[str, Any]]:
        """The current ``plugins`` section as plain dicts (secrets not merged).

        Cached on the file's (mtime, size, inode) so a hot list costs one ``stat``.
        """
        try:
            st = self.path.stat()
            signature: tuple[int, ...] = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            signature = ()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", path=str(self.path)) from exc
        with self._lock:
            if self._blocks is not None and self._blocks[0] == signature:
                return {k: dict(v) for k, v in self._blocks[1].items()}
            data = _read_yaml(self.path) if signature else {}
            plugins = data.get("plugins") if isinstance(data, Mapping) else None
            blocks: dict[str, dict[str, Any]] = {}
            if isinstance(plugins, Mapping):
                blocks = {
                    str(k): dict(v or {})
                    for k, v in plugins.items()
                    if isinstance(v, Mapping | None)
                }
            self._blocks = (signature, blocks)
            return {k: dict(v) for k, v in blocks.items()}

    # -- plugin settings and rotation order (the configure and rotation commands) ------
    def update_block(
        self, plugin_id: str, build: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Replace ``plugins.<id>`` with ``build(current block)``; returns the new block.

        ``build`` gets the block as plain data and returns the new one, or raises
        to leave the file untouched. It runs under the editor's lock, so no other
        edit slips in between the read and the write. Keys whose value did not
        change keep their comments and formatting; nothing is written when the
        block is unchanged.
        """
        validate_plugin_id(plugin_id)
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

    def set_rotation_order(self, order: Sequence[str]) -> bool:
        """Set ``display.rotation_order`` (removed when empty); True if the file changed."""
        for plugin_id in order:
            validate_plugin_id(plugin_id)

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
        data = _read_yaml(self.path.with_name(SECRETS_NAME))
        plugins = data.get("plugins") if isinstance(data, Mapping) else None
        block = plugins.get(plugin_id) if isinstance(plugins, Mapping) else None
        return dict(block) if isinstance(block, Mapping) else {}


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


def secret_values(config_path: str | os.PathLike[str], extra: tuple[str, ...] = ()) -> set[str]:
    """Every value in the secrets file, as text (plus ``extra``): values to redact from logs.

    Numbers count (a numeric PIN is a secret); booleans do not.
    """
    found: set[str] = {s for s in extra if s}
    try:
        data = _read_yaml(Path(config_path).absolute().with_name(SECRETS_NAME))
    except ConfigError:
        return found

    def walk(value: Any) -> None:
        if isinstance(value, str) and value:
            found.add(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.add(str(value))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found
