"""The installed-plugin list: fast enough to serve on every request on a Pi.

Costs on a warm list: one ``stat`` of each plugins folder (discovery is re-run
only when its mtime changes), one ``stat`` of each manifest and source marker
(re-read only when their stat changes), and the git signature of checkouts.
No manifest re-read, no subprocess, no network, however often it is asked.

A folder with a broken or missing manifest is listed with ``error`` set rather
than dropped, so a person can see and fix it. Built-ins come from a read-only folder; an
installed plugin with the same id overrides its built-in.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.config_model import as_flag
from ledmatrix_mqtt.core.ids import PluginId, is_valid_plugin_id
from ledmatrix_mqtt.core.manifest import parse_manifest_bytes
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    Manifest,
    PluginSource,
    Registry,
    RegistryEntry,
)
from ledmatrix_mqtt.core.registry_format import AliasTable, alias_table
from ledmatrix_mqtt.core.versions import is_update_available
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.store.gitinfo import GitInfoCache, StatSig, stat_signature
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.staging import SOURCE_MARKER, SourceMarker, read_source_marker

_LOG = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
# Leftovers of staging/rollback (ours and LEDMatrix's) that may sit beside plugins.
_LEFTOVER_RE = re.compile(r"\.standalone-backup-|\.(staging|rollback|tmp|old|bak|partial)(\b|$)")

# File times come from a coarse kernel clock (and FAT has 2 s steps): a signature
# younger than this may hide a later change in the same tick, so it is not
# trusted and the next list looks again (git's "racy" rule).
RACY_NS = 2_000_000_000

ConfigBlocks = Callable[[], Mapping[str, Mapping[str, Any]]]
RegistrySnapshot = Callable[[], Registry | None]


@dataclass
class _Gate:
    """Remembers a file's stat signature; says when the file must be (re-)read."""

    sig: StatSig = None
    seen: bool = False
    racy: bool = False

    def changed(self, sig: StatSig) -> bool:
        return not self.seen or self.racy or sig != self.sig

    def record(self, sig: StatSig) -> None:
        self.sig, self.seen = sig, True
        self.racy = sig is not None and time.time_ns() - sig[2] < RACY_NS

    def reset(self) -> None:
        self.seen = False


def is_plugin_folder_name(name: str) -> bool:
    """True for names the inventory lists: valid plugin ids that are not leftovers."""
    return is_valid_plugin_id(name) and _LEFTOVER_RE.search(name) is None


@dataclass(frozen=True)
class _Parsed:
    """What one folder's files say, before config and registry are applied."""

    plugin_id: PluginId
    path: Path
    builtin: bool
    manifest: Manifest | None
    error: str
    marker: SourceMarker  # where it was installed from


@dataclass
class _FolderSlot:
    manifest_gate: _Gate = field(default_factory=_Gate)
    marker_gate: _Gate = field(default_factory=_Gate)
    manifest: Manifest | None = None
    error: str = ""
    marker: SourceMarker = field(default_factory=SourceMarker)


class _FolderScan:
    """The plugin folders under one root, re-listed only when the root's stat changes."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._gate = _Gate()
        self._names: tuple[str, ...] = ()
        self.scans = 0

    def names(self) -> tuple[str, ...]:
        if self.root is None:
            return ()
        sig = stat_signature(self.root)
        if self._gate.changed(sig):
            self.scans += 1
            self._names = self._scan(self.root) if sig is not None else ()
            self._gate.record(sig)
        return self._names

    @staticmethod
    def _scan(root: Path) -> tuple[str, ...]:
        try:
            children = list(root.iterdir())
        except OSError as exc:
            _LOG.warning("cannot list plugins folder %s: %s", root, exc.strerror)
            return ()
        return tuple(
            sorted(c.name for c in children if is_plugin_folder_name(c.name) and c.is_dir())
        )

    def reset(self) -> None:
        self._gate.reset()


_Memo = tuple[
    float, Registry | None, Mapping[str, Any], tuple[StatSig, StatSig], tuple[InstalledPlugin, ...]
]


class PluginInventory:
    """Lists installed plugins (plus built-ins) from disk, cached on file signatures.

    ``config_blocks`` and ``registry`` are called on every ``list()``; they must
    be cheap (in-memory config, the cached registry). The registry is never
    fetched from here. Thread-safe; ``manifest_reads`` counts manifest file reads.
    """

    def __init__(
        self,
        layout: StateLayout,
        builtin_dir: Path | None,
        *,
        config_blocks: ConfigBlocks,
        registry: RegistrySnapshot,
        git: GitInfoCache | None = None,
    ) -> None:
        self._installed_scan = _FolderScan(layout.plugins)
        self._builtin_scan = _FolderScan(builtin_dir)
        self._config_blocks = config_blocks
        self._registry = registry
        self._git = git or GitInfoCache()
        self._lock = threading.Lock()
        self._slots: dict[Path, _FolderSlot] = {}
        self.manifest_reads = 0
        self.recheck_seconds = 1.0
        self._memo: _Memo | None = None
        self._by_id: tuple[tuple[InstalledPlugin, ...], dict[str, InstalledPlugin]] | None = None

    @property
    def folder_scans(self) -> int:
        return self._installed_scan.scans + self._builtin_scan.scans

    def list(self) -> tuple[InstalledPlugin, ...]:
        """Installed plugins and built-ins, sorted by id.

        Within ``recheck_seconds`` of the last full check, and while the config
        blocks and registry are unchanged, the previous answer is returned
        without touching the disk; store operations call ``invalidate``, so only
        hand edits of plugin folders wait up to ``recheck_seconds`` to show.
        """
        with self._lock:
            blocks = self._config_blocks()
            registry = self._registry()
            now = time.monotonic()
            roots = (self._root_sig(self._installed_scan), self._root_sig(self._builtin_scan))
            memo = self._memo
            if (
                memo is not None
                and now - memo[0] < self.recheck_seconds
                and (memo[1] is registry or memo[1] == registry)  # a stale copy is new each time
                and memo[2] == blocks
                and memo[3] == roots
                and not _racy(roots)
            ):
                return memo[4]
            parsed = self._parsed_by_id()
            table = alias_table(registry) if registry is not None else None
            result = tuple(self._entry(parsed[pid], blocks, table) for pid in sorted(parsed))
            self._memo = (now, registry, blocks, roots, result)
            return result

    @staticmethod
    def _root_sig(scan: _FolderScan) -> StatSig:
        return stat_signature(scan.root) if scan.root is not None else None

    def get(self, plugin_id: str) -> InstalledPlugin | None:
        plugins = self.list()
        with self._lock:  # by id, built once per answer: a publish asks for every plugin
            if self._by_id is None or self._by_id[0] is not plugins:
                self._by_id = (plugins, {p.id: p for p in plugins})
            return self._by_id[1].get(plugin_id)

    def invalidate(self) -> None:
        """Forget every cached signature (after an install, uninstall or update)."""
        with self._lock:
            self._memo = None
            self._installed_scan.reset()
            self._builtin_scan.reset()
            self._slots.clear()
            self._git.invalidate()

    def _parsed_by_id(self) -> dict[str, _Parsed]:
        out: dict[str, _Parsed] = {}
        # Installed first: an installed plugin with a built-in's id overrides it.
        for scan in (self._installed_scan, self._builtin_scan):
            root = scan.root
            for name in scan.names():
                if root is not None and name not in out:
                    out[name] = self._parse(root / name, builtin=scan is self._builtin_scan)
        live = {item.path for item in out.values()}
        for stale in [p for p in self._slots if p not in live]:
            del self._slots[stale]
        return out

    def _parse(self, folder: Path, *, builtin: bool) -> _Parsed:
        slot = self._slots.setdefault(folder, _FolderSlot())
        manifest_path = folder / MANIFEST_NAME
        sig = stat_signature(manifest_path)
        if slot.manifest_gate.changed(sig):
            slot.manifest, slot.error = self._read_manifest(manifest_path, folder.name)
            slot.manifest_gate.record(sig)
        marker_sig = stat_signature(folder / SOURCE_MARKER)
        if slot.marker_gate.changed(marker_sig):
            slot.marker = read_source_marker(folder) if marker_sig else SourceMarker()
            slot.marker_gate.record(marker_sig)
        plugin_id = PluginId(folder.name)  # the scan lists only names is_plugin_folder_name took
        return _Parsed(plugin_id, folder, builtin, slot.manifest, slot.error, slot.marker)

    def _read_manifest(self, path: Path, folder_name: str) -> tuple[Manifest | None, str]:
        self.manifest_reads += 1
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, "invalid_manifest: manifest.json is missing"
        except OSError as exc:
            return None, f"invalid_manifest: cannot read manifest.json: {exc.strerror}"
        try:
            return parse_manifest_bytes(raw, folder_name=folder_name), ""
        except LedMatrixError as exc:
            return None, f"{exc.code}: {exc.message}"

    def _entry(
        self,
        item: _Parsed,
        blocks: Mapping[str, Mapping[str, Any]],
        table: AliasTable | None,
    ) -> InstalledPlugin:
        git = None if item.builtin else self._git.get(item.path)
        source = _source(item, git is not None and bool(git.remote_url))
        manifest = item.manifest
        plugin = InstalledPlugin(
            id=item.plugin_id,
            name=manifest.name if manifest else item.plugin_id,
            version=manifest.version if manifest else "",
            path=str(item.path),
            source=source,
            enabled=enabled_in_config(blocks, item.plugin_id),
            git=git,
            error=item.error,
            manifest=manifest,
            registry_id=item.marker.registry_id,
        )
        entry = None if item.builtin else _registry_entry(table, item)
        if entry is None or not entry.latest_version:
            return plugin
        if entry.latest_version == item.marker.registry_version:
            # installed from the branch head while this was the registry's latest: that
            # head is the latest, whatever version its manifest declares (no update loop)
            return replace(plugin, latest_version=plugin.version)
        return replace(
            plugin,
            latest_version=entry.latest_version,
            update_available=is_update_available(plugin.version, entry.latest_version),
        )


def _registry_entry(table: AliasTable | None, item: _Parsed) -> RegistryEntry | None:
    """The entry it was installed from (its manifest id may differ), else by its own id."""
    if table is None:
        return None
    if item.marker.source == "registry" and item.marker.registry_id:
        return table.by_id.get(item.marker.registry_id)
    if item.marker.source == "url":
        return None  # installed from a URL: the registry does not own it
    return table.resolve(item.plugin_id)


def _racy(sigs: tuple[StatSig, ...]) -> bool:
    """A signature this young may hide a same-tick change (coarse file timestamps)."""
    now = time.time_ns()
    return any(sig is not None and now - sig[2] < RACY_NS for sig in sigs)


def _source(item: _Parsed, git_with_remote: bool) -> PluginSource:
    if item.builtin:
        return PluginSource.BUILTIN
    if item.marker.source == "registry":
        return PluginSource.REGISTRY
    if item.marker.source == "url" or git_with_remote:
        return PluginSource.URL
    return PluginSource.LOCAL


def enabled_in_config(blocks: Mapping[str, Mapping[str, Any]], plugin_id: str) -> bool:
    """The one ``enabled`` rule: a block's ``enabled`` (default True, read as the config
    check reads it: ``"on"`` is true); no block means False."""
    block = blocks.get(plugin_id)
    if block is None:
        return False
    return as_flag(block.get("enabled", True)) is True
