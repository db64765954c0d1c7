"""Parse and validate ``manifest.json``, and the compatibility gate.

One set of rules for every install source (registry, URL, hand-placed folder),
where LEDMatrix had five checkers that disagreed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ledmatrix_mqtt.core.ids import is_valid_plugin_id
from ledmatrix_mqtt.core.models import Manifest, frozen_mapping
from ledmatrix_mqtt.core.text import first_unencodable
from ledmatrix_mqtt.core.versions import parse_version, satisfies
from ledmatrix_mqtt.errors import Incompatible, InvalidManifest

MAX_MANIFEST_BYTES = 256 * 1024
REQUIRED_FIELDS = ("id", "name", "class_name", "display_modes")
_ENTRY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.py$")
_CLASS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _str_field(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidManifest(f"manifest field '{key}' must be a string")
    return str(value)


def _str_tuple(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key) or ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidManifest(f"manifest field '{key}' must be a list of strings")
    return tuple(value)


def _min_core_version(data: Mapping[str, Any]) -> str:
    requires = data.get("requires")
    versions = data.get("versions")
    candidates: list[Any] = [data.get("min_ledmatrix_version")]
    if isinstance(requires, Mapping):
        candidates.append(requires.get("min_ledmatrix_version"))
    if isinstance(versions, list) and versions and isinstance(versions[0], Mapping):
        candidates.append(versions[0].get("ledmatrix_min_version"))
    candidates.append(data.get("ledmatrix_min"))
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _entry_point(data: Mapping[str, Any]) -> str:
    entry = _str_field(data, "entry_point", "manager.py") or "manager.py"
    if not _ENTRY_RE.fullmatch(entry) or ".." in entry.split("/") or entry.startswith("/"):
        raise InvalidManifest(f"manifest entry_point {entry!r} must be a relative .py path")
    return entry


def _update_interval(data: Mapping[str, Any]) -> float | None:
    value = data.get("update_interval")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise InvalidManifest("manifest update_interval must be a number >= 1")
    return float(value)


def parse_manifest(data: object, *, folder_name: str | None = None) -> Manifest:
    """Validate a decoded manifest object; raise ``InvalidManifest`` naming the problem.

    ``folder_name``, when given, must equal the manifest id (the id is canonical).
    """
    if not isinstance(data, Mapping):
        raise InvalidManifest("manifest.json must contain a JSON object")
    bad = first_unencodable(data)
    if bad is not None:
        raise InvalidManifest(
            f"manifest field {bad[:80].encode('utf-8', 'backslashreplace').decode()!r} "
            "holds text that is not valid Unicode (a lone surrogate)"
        )
    missing = [k for k in REQUIRED_FIELDS if k not in data or data[k] in (None, "", [])]
    if missing:
        raise InvalidManifest(f"manifest is missing required field(s): {', '.join(missing)}")
    plugin_id = data["id"]
    if not is_valid_plugin_id(plugin_id):
        raise InvalidManifest(f"manifest id {str(plugin_id)[:80]!r} is not a valid plugin id")
    if folder_name is not None and folder_name != plugin_id:
        raise InvalidManifest(f"manifest id {plugin_id!r} does not match folder {folder_name!r}")
    class_name = _str_field(data, "class_name")
    if not _CLASS_RE.fullmatch(class_name):
        raise InvalidManifest(f"manifest class_name {class_name!r} is not a Python class name")
    api = _str_field(data, "api", "ledmatrix") or "ledmatrix"
    if api not in ("ledmatrix", "native"):
        raise InvalidManifest("manifest api must be 'ledmatrix' or 'native'")
    return Manifest(
        id=plugin_id,
        name=_str_field(data, "name"),
        version=_str_field(data, "version", "0.0.0") or "0.0.0",
        class_name=class_name,
        entry_point=_entry_point(data),
        display_modes=_str_tuple(data, "display_modes"),
        description=_str_field(data, "description"),
        author=_str_field(data, "author"),
        category=_str_field(data, "category"),
        tags=_str_tuple(data, "tags"),
        compatible_versions=_str_tuple(data, "compatible_versions"),
        min_core_version=_min_core_version(data),
        update_interval=_update_interval(data),
        api=api,
        raw=frozen_mapping(data),
    )


def parse_manifest_bytes(raw: bytes, *, folder_name: str | None = None) -> Manifest:
    """Decode and validate manifest bytes (size-capped)."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidManifest("manifest.json is larger than 256 KiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidManifest(f"manifest.json is not valid JSON: {exc}") from exc
    return parse_manifest(data, folder_name=folder_name)


def check_compatible(manifest: Manifest, core_version: str) -> None:
    """Refuse a plugin only on evidence that it needs another core version.

    Nothing declared, or unparseable declarations, means allow (as LEDMatrix).
    Any satisfied ``compatible_versions`` entry is enough; upper bounds count.
    """
    core = parse_version(core_version)
    if core is None:
        return
    floor = parse_version(manifest.min_core_version)
    if floor is not None and floor > core:
        raise Incompatible(
            f"{manifest.id} needs LEDMatrix API >= {manifest.min_core_version}; "
            f"this service provides {core_version}"
        )
    if not manifest.compatible_versions:
        return
    verdicts = [satisfies(core_version, spec) for spec in manifest.compatible_versions]
    if any(v is True for v in verdicts) or all(v is None for v in verdicts):
        return
    raise Incompatible(
        f"{manifest.id} declares compatible_versions {list(manifest.compatible_versions)}, "
        f"which exclude the LEDMatrix API {core_version} this service provides"
    )
