"""The rules an install follows besides moving files: who owns a plugin id, what a
failed dependency step means, and how the result is described.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ledmatrix_mqtt.api import ProgressFn
from ledmatrix_mqtt.core.ids import MaybePluginId
from ledmatrix_mqtt.core.models import (
    DependencyReport,
    InstallResult,
    Manifest,
    PluginSource,
    Progress,
    Stage,
)
from ledmatrix_mqtt.errors import DependencyFailed, IdConflict
from ledmatrix_mqtt.store.staging import read_source_marker

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reporter:
    """Sends progress for one operation; a failing sink is logged, never raised."""

    operation: str
    plugin_id: str
    sink: ProgressFn | None

    def __call__(self, stage: Stage, percent: int, message: str = "") -> None:
        if self.sink is None:
            return
        try:
            self.sink(Progress(self.operation, self.plugin_id, stage, percent, message))
        except Exception:
            _LOG.exception("progress callback failed")


@dataclass(frozen=True)
class Staged:
    """A validated plugin folder in staging, and where it came from."""

    folder: Path
    manifest: Manifest
    source: PluginSource
    origin: str  # repository or archive URL, for the source marker
    registry_id: MaybePluginId = ""
    registry_version: str = ""  # the entry's latest_version: what this branch head is


def check_owner(staged: Staged, target: Path, replaces: str, builtin_dir: Path | None) -> None:
    """An id belongs to one source: refuse to create a built-in's id or to replace a
    plugin that came from another registry entry or repository.

    ``replaces`` is the plugin an update was asked for (its source already matched).
    """
    plugin_id = staged.manifest.id
    if builtin_dir is not None and (builtin_dir / plugin_id).is_dir():
        raise IdConflict(
            f"{plugin_id!r} is the id of a built-in plugin; a downloaded plugin cannot "
            "take it over", details={"plugin_id": plugin_id},
        )  # fmt: skip
    if plugin_id == replaces or not os.path.lexists(target):
        return
    marker = read_source_marker(target)
    if staged.source == PluginSource.REGISTRY:
        same = marker.source == "registry" and (marker.registry_id or plugin_id) == (
            staged.registry_id
        )
        same = same or (not marker.source and staged.registry_id == plugin_id)
    else:
        same = marker.source == "url" and same_repo(marker.url, staged.origin)
    if not same:
        where = staged.registry_id or staged.origin
        raise IdConflict(
            f"plugin {plugin_id!r} is already installed from another source; "
            f"{where!r} cannot replace it (uninstall it first to switch sources)",
            details={"plugin_id": plugin_id},
        )


def dependency_failed(plugin_id: str, deps: DependencyReport) -> DependencyFailed:
    """Like pip, a plugin whose requirements cannot be installed is not installed: the
    previous copy (or nothing) stays. The last line of pip's output says why."""
    lines = [line.strip() for line in deps.detail.splitlines() if line.strip()]
    why = lines[-1][:300] if lines else "pip failed"
    return DependencyFailed(
        f"{plugin_id}: installing its Python requirements failed ({why}); nothing was changed",
        details={"plugin_id": plugin_id, "pip": deps.detail[-2000:]},
    )


def same_repo(a: str, b: str) -> bool:
    """Two repository URLs name the same repository (case, ``.git`` and ``/`` aside)."""

    def norm(url: str) -> str:
        url = url.strip().rstrip("/").lower()
        return url[: -len(".git")] if url.endswith(".git") else url

    return bool(a) and norm(a) == norm(b)


def install_result(
    manifest: Manifest, previous: Manifest | None, source: PluginSource, deps: DependencyReport
) -> InstallResult:
    if previous is None:
        action = "installed"
    elif previous.version == manifest.version:
        action = "reinstalled"
    else:
        action = "updated"
    message = f"{manifest.name} {manifest.version} {action}"
    return InstallResult(
        plugin_id=manifest.id,
        action=action,
        version=manifest.version,
        previous_version=previous.version if previous else "",
        source=source,
        dependencies=deps,
        message=message,
    )
