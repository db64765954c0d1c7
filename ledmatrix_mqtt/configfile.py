"""Read the YAML config (plus its secrets file) into a validated ``AppConfig``.

One YAML library (ruamel, YAML 1.2) reads it here and writes it in
``config_editor``. Secrets live in ``secrets.yaml`` beside the config and are
never written into the main file.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
import zoneinfo
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from ledmatrix_mqtt.core.config_model import AppConfig, parse_config
from ledmatrix_mqtt.core.ids import device_id_from_hostname
from ledmatrix_mqtt.errors import ConfigError

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


def new_yaml() -> YAML:
    """The one YAML reader/writer: ruamel round-trip (YAML 1.2, comments kept).

    Only ``true``/``false`` are YAML booleans; words like ``on``/``off`` stay
    strings and every flag reads them through ``as_flag``. Duplicate keys are
    an error. A new instance per use: ruamel's objects are not thread-safe.
    """
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines (default 80)
    return yaml


def plain(value: Any) -> Any:
    """ruamel's round-trip types as plain dicts, lists, str, int, float and bool."""
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, int | float) else k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
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


def parse_yaml(text: str, path: Path) -> Any:
    """The round-trip document for ``text`` (None when empty); ``ConfigError`` when invalid."""
    try:
        return new_yaml().load(text)
    except YAMLError as exc:
        raise _yaml_error(exc, path, text) from exc


# The last parse of each file, by its text: the service reads the config at start-up
# (load_config) and its plugin blocks (the config editor) from the same bytes; a
# round-trip parse of a 50-plugin config costs about 30 ms of CPU here.
_PARSED: dict[Path, tuple[str, Any]] = {}
_PARSED_LOCK = threading.Lock()
_PARSED_MAX = 8


def read_yaml(path: Path, *, must_exist: bool = False) -> Any:
    """The file as plain data (``{}`` when it is missing, unless ``must_exist``); a
    fresh copy per call, parsed again only when the file's text changed."""
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
    with _PARSED_LOCK:
        seen = _PARSED.get(path)
    if seen is not None and seen[0] == text:
        return copy.deepcopy(seen[1])
    data = plain(parse_yaml(text, path)) or {}
    with _PARSED_LOCK:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[path] = (text, data)
    return copy.deepcopy(data)


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
    data = read_yaml(cfg_path, must_exist=must_exist)
    if not isinstance(data, Mapping):
        raise ConfigError("must be a YAML mapping", path=str(cfg_path))
    secrets_path = cfg_path.with_name(SECRETS_NAME)
    secrets = read_yaml(secrets_path)
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


def secret_values(config_path: str | os.PathLike[str], extra: tuple[str, ...] = ()) -> set[str]:
    """Every value in the secrets file, as text (plus ``extra``): values to redact from logs.

    Numbers count (a numeric PIN is a secret); booleans do not.
    """
    found: set[str] = {s for s in extra if s}
    try:
        data = read_yaml(Path(config_path).absolute().with_name(SECRETS_NAME))
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
