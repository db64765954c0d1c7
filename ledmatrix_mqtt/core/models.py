"""Frozen value types shared by the store, the runtime and the MQTT front end.

Nothing here does I/O. Values are immutable so a cached value can be handed to
any caller without a defensive copy: no caller can change what the next one sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ledmatrix_mqtt.core.ids import PluginId


def frozen_mapping(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only deep copy of a JSON-like mapping (lists become tuples)."""

    def freeze(value: Any) -> Any:
        if isinstance(value, Mapping):
            return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
        if isinstance(value, list | tuple):
            return tuple(freeze(v) for v in value)
        return value

    return freeze(dict(data or {}))  # type: ignore[no-any-return]


def thaw(value: Any) -> Any:
    """Turn a frozen mapping back into plain JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


class PluginSource(StrEnum):
    REGISTRY = "registry"
    URL = "url"
    BUILTIN = "built-in"
    LOCAL = "local"  # a folder the user put there by hand


@dataclass(frozen=True)
class Manifest:
    """A validated ``manifest.json``. ``id`` is canonical: folder name and config key."""

    id: PluginId
    name: str
    version: str
    class_name: str
    entry_point: str = "manager.py"
    display_modes: tuple[str, ...] = ()
    description: str = ""
    author: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    compatible_versions: tuple[str, ...] = ()
    min_core_version: str = ""
    update_interval: float | None = None
    api: str = "ledmatrix"  # "native" for plugins written against our own API
    raw: Mapping[str, Any] = field(default_factory=lambda: frozen_mapping({}), compare=False)


@dataclass(frozen=True)
class RegistryEntry:
    """One plugin in the registry (``plugins.json``)."""

    id: PluginId
    name: str
    repo: str = ""
    branch: str = ""
    plugin_path: str = ""
    latest_version: str = ""
    download_url: str = ""
    description: str = ""
    author: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    verified: bool = False
    type: str = "plugin"
    raw: Mapping[str, Any] = field(default_factory=lambda: frozen_mapping({}), compare=False)


@dataclass(frozen=True)
class Registry:
    """A parsed registry plus where it came from and how fresh it is."""

    entries: tuple[RegistryEntry, ...]
    source: str = ""
    fetched_at: float = 0.0
    stale: bool = False

    def get(self, plugin_id: str) -> RegistryEntry | None:
        for entry in self.entries:
            if entry.id == plugin_id:
                return entry
        return None


@dataclass(frozen=True)
class RepoInfo:
    """What store search shows of ``/repos/{owner}/{repo}``: one request per repository.

    ``pushed_at`` is the repository's last push (ISO 8601, "" when unknown); for a
    monorepo it is shared by all its plugins.
    """

    stars: int = 0
    default_branch: str = "main"
    pushed_at: str = ""


@dataclass(frozen=True)
class StoreEntry:
    """A registry entry as shown by store search, optionally enriched from GitHub.

    ``enriched`` is False when enrichment was skipped, failed, or missed the
    search deadline; the entry is still listed, marked so.
    """

    entry: RegistryEntry
    repo_info: RepoInfo | None = None
    enriched: bool = False
    installed: bool = False
    installed_version: str = ""


@dataclass(frozen=True)
class GitInfo:
    sha: str
    branch: str = ""
    remote_url: str = ""
    date_iso: str = ""


@dataclass(frozen=True)
class InstalledPlugin:
    """One plugin on disk, as the list shows it."""

    id: PluginId
    name: str
    version: str
    path: str
    source: PluginSource
    enabled: bool
    latest_version: str = ""
    update_available: bool = False
    git: GitInfo | None = None
    error: str = ""
    manifest: Manifest | None = None
    registry_id: str = ""  # the registry entry a store install came from (may differ from id)


class Stage(StrEnum):
    QUEUED = "queued"
    RESOLVING = "resolving"
    DOWNLOADING = "downloading"
    EXTRACTING = "extracting"
    VALIDATING = "validating"
    DEPENDENCIES = "dependencies"
    ACTIVATING = "activating"
    REMOVING = "removing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Progress:
    """Where a long operation is. Published on ``ROOT/state/operation``."""

    operation: str
    plugin_id: str
    stage: Stage
    percent: int = 0
    message: str = ""


@dataclass(frozen=True)
class DependencyReport:
    """What happened to a plugin's ``requirements.txt``."""

    status: str  # "none" | "satisfied" | "installed" | "failed"
    detail: str = ""


@dataclass(frozen=True)
class InstallResult:
    plugin_id: PluginId
    action: str  # "installed" | "updated" | "up_to_date" | "reinstalled"
    version: str
    previous_version: str = ""
    source: PluginSource = PluginSource.REGISTRY
    dependencies: DependencyReport = DependencyReport("none")
    message: str = ""


@dataclass(frozen=True)
class UninstallResult:
    plugin_id: str
    removed_files: bool
    removed_config: bool
    message: str = ""
