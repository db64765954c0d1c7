"""Filesystem helpers for the installer: staging folders, plugin paths, manifests.

Staging and rollback folders live under the state dir, on the same filesystem
as ``plugins/``, so every swap is one ``rename``. OS errors that mean "the disk
cannot take it" become ``StorageFailed``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ledmatrix_mqtt.core.ids import PluginId, is_valid_plugin_id
from ledmatrix_mqtt.core.manifest import MAX_MANIFEST_BYTES, parse_manifest_bytes
from ledmatrix_mqtt.core.models import Manifest, PluginSource
from ledmatrix_mqtt.errors import InvalidManifest, InvalidPluginId, StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, sorted_entries
from ledmatrix_mqtt.store.layout import StateLayout

_LOG = logging.getLogger(__name__)
SOURCE_MARKER = ".ledmatrix-source.json"  # written here, read by store.inventory
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG}
)


def storage_failed(exc: OSError, what: str) -> StorageFailed:
    """A ``StorageFailed`` naming the path and the OS reason."""
    return StorageFailed(f"cannot {what}: {exc.strerror or exc}", details={"errno": exc.errno or 0})


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn any ``OSError`` inside the block into ``StorageFailed``."""
    try:
        yield
    except OSError as exc:
        raise storage_failed(exc, what) from exc


def plugin_dir(layout: StateLayout, plugin_id: PluginId) -> Path:
    """``plugins/<id>``, after checking that it is a direct child of ``plugins/`` (the
    id was checked where it came in; a symlinked parent could still lead elsewhere)."""
    root = Path(os.path.realpath(layout.plugins))
    path = root / plugin_id
    if Path(os.path.realpath(path)).parent != root and not path.is_symlink():
        raise InvalidPluginId(f"plugin folder {plugin_id!r} resolves outside {root}")
    return path


def new_workdir(layout: StateLayout, operation: str) -> Path:
    """A fresh private folder under ``staging/`` for one operation."""
    with storage_errors(f"create a staging folder in {layout.staging}"):
        layout.staging.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{operation}-", dir=layout.staging))


def aside_path(layout: StateLayout, plugin_id: str, token: str) -> Path:
    """Where the previous copy waits while a new one is proven (``rollback/<id>.<token>``)."""
    return layout.rollback / f"{plugin_id}.{token}"


def _make_writable(func: object, path: str, _exc: object) -> None:
    # Read-only files (e.g. git pack files) block deletion; make writable and retry once.
    with contextlib.suppress(OSError):
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if not os.path.islink(path):
            os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def remove_tree(path: Path) -> bool:
    """Delete ``path`` (folder, file or symlink) if present; True when it is gone."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path, onerror=_make_writable)
    except OSError as exc:
        _LOG.warning("cannot remove %s: %s", path, exc.strerror or exc)
    return not os.path.lexists(path)


def read_manifest(folder: Path) -> Manifest:
    """The validated ``manifest.json`` at the root of ``folder``, whose entry point must exist."""
    path = folder / "manifest.json"
    try:
        if path.is_symlink() or not path.is_file():
            raise InvalidManifest("the plugin has no manifest.json at its root")
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise InvalidManifest(f"cannot read manifest.json: {exc.strerror or exc}") from exc
    manifest = parse_manifest_bytes(raw)
    entry = folder / manifest.entry_point
    if not entry.is_file():
        raise InvalidManifest(
            f"manifest entry_point {manifest.entry_point!r} does not exist in the plugin"
        )
    return manifest


def installed_manifest(folder: Path) -> Manifest | None:
    """The manifest of an installed copy, or None when absent or unreadable."""
    try:
        return read_manifest(folder)
    except InvalidManifest:
        return None


def clean_staging(layout: StateLayout) -> list[str]:
    """Delete every leftover under ``staging/``; returns the names removed."""
    return [path.name for path in sorted_entries(layout.staging) if remove_tree(path)]


@dataclass(frozen=True)
class SourceMarker:
    """What ``.ledmatrix-source.json`` says about an installed folder.

    ``registry_version`` is the registry's ``latest_version`` when the branch head
    was installed: that head *is* the registry's latest, whatever its manifest says.
    """

    source: str = ""  # "registry" | "url" | "" (unknown or hand-placed)
    registry_id: str = ""
    url: str = ""
    registry_version: str = ""


def read_source_marker(folder: Path) -> SourceMarker:
    """The marker in ``folder``; an empty marker when it is missing or unreadable."""
    try:
        data = json.loads((folder / SOURCE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return SourceMarker()
    if not isinstance(data, dict) or data.get("source") not in ("registry", "url"):
        return SourceMarker()
    source = str(data["source"])
    registry_id, version, url = (data.get(k) for k in ("registry_id", "registry_version", "url"))
    return SourceMarker(
        source=source,
        registry_id=str(registry_id)
        if source == "registry" and is_valid_plugin_id(registry_id)
        else "",
        url=url if isinstance(url, str) else "",
        registry_version=version if isinstance(version, str) else "",
    )


def write_source_marker(
    folder: Path,
    source: PluginSource,
    origin: str,
    registry_id: str = "",
    registry_version: str = "",
) -> None:
    """Record where a staged plugin came from (``.ledmatrix-source.json``).

    In a git checkout the marker is also excluded from ``git status``.
    """
    data = {"source": source.value, "url": origin}
    if registry_id:
        data["registry_id"] = registry_id
    if registry_version:
        data["registry_version"] = registry_version
    atomic_write_json(folder / SOURCE_MARKER, data)
    exclude = folder / ".git" / "info" / "exclude"
    if (folder / ".git").is_dir():
        with storage_errors(f"write {exclude}"):
            exclude.parent.mkdir(parents=True, exist_ok=True)
            lines = exclude.read_text(encoding="utf-8").splitlines() if exclude.exists() else []
            if f"/{SOURCE_MARKER}" not in lines:
                exclude.write_text("\n".join([*lines, f"/{SOURCE_MARKER}"]) + "\n", "utf-8")
