"""``PluginStore``: the one store API the MQTT front end, the CLI and the app call.

It composes the registry client, installer, inventory, uninstall records,
config editor and reconciler, and runs every mutation (``store.mutations``)
through the single :class:`OperationQueue`. Reads (list, search) and the
switches and settings (which must answer at once) never enter the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ledmatrix_mqtt.api import (
    EVERY_PLUGIN,
    OperationListener,
    OpResult,
    ProgressFn,
    ReconcileReport,
    SearchQuery,
    SearchResult,
    StoreOp,
    UpdateAllResult,
)
from ledmatrix_mqtt.core.config_model import StoreConfig
from ledmatrix_mqtt.core.ids import PluginId, validate_plugin_id
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    PluginSource,
    StoreEntry,
    UninstallResult,
)
from ledmatrix_mqtt.core.plugin_settings import PluginSettings, merge_patch
from ledmatrix_mqtt.core.registry_format import names_of
from ledmatrix_mqtt.core.schedule import parse_dim_schedule, parse_schedule
from ledmatrix_mqtt.errors import (
    ConfigError,
    InvalidPluginId,
    LedMatrixError,
    NotInstalled,
)
from ledmatrix_mqtt.fsutil import remove_stale_temps
from ledmatrix_mqtt.lazy import Lazy
from ledmatrix_mqtt.store import mutations
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.operations import OperationQueue
from ledmatrix_mqtt.store.records import UninstallRecords
from ledmatrix_mqtt.store.recovery import recover_state
from ledmatrix_mqtt.store.registry_client import RegistryClient
from ledmatrix_mqtt.store.settings import PluginSettingsService, SettingsEditor
from ledmatrix_mqtt.store.swap import PluginSwap

if TYPE_CHECKING:  # built on first use (start-up does not load them)
    from ledmatrix_mqtt.store.installer import Installer
    from ledmatrix_mqtt.store.reconciler import Reconciler

_LOG = logging.getLogger(__name__)


class StoreHooks(Protocol):
    """What the rest of the service must do around store changes."""

    def before_remove(self, plugin_id: str) -> None:
        """Unload the plugin (its ``cleanup()`` runs) before its files go."""

    def changed(self, *, wait: bool = True) -> None:
        """Installed set or config changed: reload the rotation, republish state.

        ``wait=False``: return at once and let the rotation follow shortly (a
        switch answers before the plugin has loaded or cleaned up).
        """


class NoHooks:
    def before_remove(self, plugin_id: str) -> None:
        pass

    def changed(self, *, wait: bool = True) -> None:
        pass


Blocks = tuple[dict[str, Any], dict[str, Any]]  # schedule, dim_schedule


class PluginConfigEditor(SettingsEditor, Protocol):
    def set_enabled(self, plugin_id: PluginId, enabled: bool) -> bool: ...

    def remove_block(self, plugin_id: PluginId) -> Any: ...

    def rename_block(self, old_id: PluginId, new_id: PluginId) -> bool: ...

    def update_schedules(self, build: Callable[[Blocks], Blocks]) -> Blocks: ...


@dataclass(frozen=True, eq=False)
class PluginStore:
    """Implements ``ledmatrix_mqtt.api.StoreApi`` over the parts ``wiring.build_store`` makes.

    The installer and the reconciler are built on first use: reaching ``online`` needs
    neither (start-up recovery works on the state dir's journal directly).
    """

    store_config: StoreConfig
    layout: StateLayout
    registry: RegistryClient
    lazy_installer: Lazy[Installer]
    inventory: PluginInventory
    records: UninstallRecords
    config_editor: PluginConfigEditor
    lazy_reconciler: Lazy[Reconciler]
    operations: OperationQueue
    hooks: StoreHooks = field(default_factory=NoHooks)
    default_duration: float = 15.0  # shown for plugins whose block sets none

    @property
    def installer(self) -> Installer:
        return self.lazy_installer.get()

    @property
    def reconciler(self) -> Reconciler:
        return self.lazy_reconciler.get()

    @property
    def _settings_service(self) -> PluginSettingsService:
        return PluginSettingsService(
            self.config_editor, {"display_duration": self.default_duration}
        )

    # -- reads (never queued) -------------------------------------------------------
    def list_installed(self) -> Sequence[InstalledPlugin]:
        return self.inventory.list()

    def search(self, request: SearchQuery = EVERY_PLUGIN) -> SearchResult:
        result = self.registry.search(
            query=request.query,
            category=request.category,
            tags=request.tags,
            refresh=request.refresh,
        )
        if request.refresh:  # latest versions may have changed: republish, after the answer
            self.hooks.changed(wait=False)
        return replace(result, entries=self._mark_installed(result.entries))

    def enrich(self, result: SearchResult) -> None:
        self.registry.enrich(entry.entry for entry in result.entries)

    def cached_registry_summary(self) -> SearchResult | None:
        registry = self.registry.cached_registry()
        if registry is None:
            return None
        entries = self.registry.enrich_cached(registry.entries)
        return SearchResult(
            entries=self._mark_installed(entries),
            fetched_at=registry.fetched_at,
            stale=registry.stale,
        )

    def _mark_installed(self, entries: tuple[StoreEntry, ...]) -> tuple[StoreEntry, ...]:
        """An entry is installed when a plugin was installed from it (its recorded registry
        id), or, for a hand-placed plugin, when one of the entry's names is its id. A
        plugin installed from another entry or a URL never marks this one."""
        plugins = [p for p in self.inventory.list() if p.source != PluginSource.BUILTIN]
        from_entry = {p.registry_id: p for p in plugins if p.registry_id}
        by_name: dict[str, InstalledPlugin] = {
            p.id: p for p in plugins if p.source == PluginSource.LOCAL
        }
        out = []
        for item in entries:
            names = sorted(names_of(item.entry), key=lambda n: n != item.entry.id)  # id first
            hit = from_entry.get(item.entry.id) or next(
                (by_name[n] for n in names if n in by_name), None
            )
            if hit is not None:
                item = replace(item, installed=True, installed_version=hit.version)
            out.append(item)
        return tuple(out)

    # -- mutations (queued) -----------------------------------------------------------
    def submit(self, op: StoreOp, *, progress: ProgressFn | None = None) -> Future[OpResult]:
        """Queue ``op`` on the one operation queue; ``Busy`` at once for a duplicate
        (same kind and target queued or running) or a full queue. Never blocks."""
        work = self._work_for(op)
        future: Future[OpResult] = self.operations.submit(
            op.kind, op.target, work, progress=progress, tag=op.tag
        )
        return future

    def _work_for(self, op: StoreOp) -> Callable[[ProgressFn], OpResult]:
        """Checks the URL now (so bad input fails before queueing) and returns the work.

        The plugin id was checked where it came in (``StoreOp`` takes a ``PluginId``).
        """
        if op.kind == "install" and op.url:
            allowed = self.store_config.allow_install_from_url
            url = self.installer.check_source_url(op.url, allowed=allowed)
            return lambda r: mutations.install_url(self, url, op.branch, op.plugin_path, r)
        if op.kind == "update_all":
            return lambda r: mutations.update_all(self, r)
        if op.kind == "reconcile":
            return lambda r: mutations.reconcile(self, op.force, op.dry_run, r)
        plugin_id = op.plugin_id
        if not plugin_id:
            raise InvalidPluginId(f"{op.kind} needs a plugin id")
        if op.kind == "install":
            return lambda r: mutations.install(self, plugin_id, r)
        if op.kind == "uninstall":
            return lambda r: mutations.uninstall(self, plugin_id, r)
        return lambda r: mutations.update(self, plugin_id, r)

    def add_operation_listener(self, callback: OperationListener) -> None:
        self.operations.add_listener(callback)

    # Blocking forms for the offline CLI and start-up work: submit and wait.
    def install(self, plugin_id: str, *, progress: ProgressFn | None = None) -> InstallResult:
        op = StoreOp("install", validate_plugin_id(plugin_id))
        result = self.submit(op, progress=progress).result()
        assert isinstance(result, InstallResult)
        return result

    def install_from_url(
        self,
        url: str,
        *,
        branch: str = "",
        plugin_path: str = "",
        progress: ProgressFn | None = None,
    ) -> InstallResult:
        op = StoreOp("install", url=url, branch=branch, plugin_path=plugin_path)
        result = self.submit(op, progress=progress).result()
        assert isinstance(result, InstallResult)
        return result

    def uninstall(self, plugin_id: str, *, progress: ProgressFn | None = None) -> UninstallResult:
        op = StoreOp("uninstall", validate_plugin_id(plugin_id))
        result = self.submit(op, progress=progress).result()
        assert isinstance(result, UninstallResult)
        return result

    def update(self, plugin_id: str, *, progress: ProgressFn | None = None) -> InstallResult:
        op = StoreOp("update", validate_plugin_id(plugin_id))
        result = self.submit(op, progress=progress).result()
        assert isinstance(result, InstallResult)
        return result

    def update_all(self, *, progress: ProgressFn | None = None) -> UpdateAllResult:
        result = self.submit(StoreOp("update_all"), progress=progress).result()
        assert isinstance(result, UpdateAllResult)
        return result

    def reconcile(self, *, force: bool = False, dry_run: bool = False) -> ReconcileReport:
        result = self.submit(StoreOp("reconcile", force=force, dry_run=dry_run)).result()
        assert isinstance(result, ReconcileReport)
        return result

    def recover_at_start(self, config_path: str = "") -> list[str]:
        """Crash recovery before anything else runs (service start, offline CLI).

        Finishes or rolls back interrupted swaps, removes temp files a killed
        config write left, and completes recorded uninstalls.
        """
        recovered = recover_state(self.layout, PluginSwap(self.layout), self.records.is_uninstalled)
        if config_path:
            recovered += remove_stale_temps(Path(config_path))
        return recovered + self.finish_interrupted_uninstalls()

    def finish_interrupted_uninstalls(self) -> list[str]:
        """Complete uninstalls that were recorded but not finished.

        The intent is recorded first, so a crash (or power cut) part-way leaves the
        files, or (once start-up recovery has finished removing them) only the
        config block. Both are completed here; run once at start-up, after
        ``recover_state``. A recorded uninstall is never undone by files
        reappearing. Expired tombstones are pruned afterwards.
        """
        done: list[str] = []
        recorded = self.records.uninstalled()  # one read, not one per plugin
        present = set()
        for plugin in self.inventory.list():
            present.add(plugin.id)
            if plugin.source != PluginSource.BUILTIN and plugin.id in recorded:
                try:
                    self.uninstall(plugin.id)
                    done.append(plugin.id)
                except LedMatrixError as exc:
                    _LOG.error("could not finish uninstalling %s: %s", plugin.id, exc.message)
        stones = self.records.tombstones()
        for plugin_id in sorted(p for p in recorded if p in stones and p not in present):
            try:  # files gone, block maybe left: the uninstall stopped between the two
                if self.config_editor.remove_block(plugin_id) is not None:
                    done.append(plugin_id)
            except LedMatrixError as exc:
                _LOG.error("could not drop the config of %s: %s", plugin_id, exc.message)
        self.records.prune_tombstones()
        return done

    def last_reconcile(self) -> ReconcileReport | None:
        return self.reconciler.last_report()

    def set_enabled(self, plugin_id: str, enabled: bool) -> InstalledPlugin:
        """Not queued (a switch must answer at once, even during a long install), so it
        checks the uninstall intent itself: a block re-created while an uninstall of the
        same plugin runs would outlive the plugin."""
        plugin = self._editable(plugin_id)
        self.config_editor.set_enabled(plugin.id, enabled)
        self.inventory.invalidate()
        # loading or cleaning up the plugin must not delay the answer
        mutations.notify(self, wait=False)
        return mutations.installed(self, plugin.id)

    def _editable(self, plugin_id: str) -> InstalledPlugin:
        """The installed plugin (its id is a checked ``PluginId``: only valid folder
        names are listed), unless an uninstall of it is running: ``NotInstalled``."""
        plugin = mutations.installed(self, plugin_id)
        if self.records.is_uninstalled(plugin.id):
            raise NotInstalled(f"plugin {plugin.id!r} is being uninstalled")
        return plugin

    # -- plugin settings and rotation order (not queued: they answer at once, like
    # set_enabled, and the config editor serialises the writes) ------------------------
    def settings_of(self, plugins: Sequence[InstalledPlugin]) -> dict[str, PluginSettings]:
        """Each plugin's effective settings (secrets masked) and simple settings; a plugin
        without a readable schema is left out."""
        return self._settings_service.current_many(plugins)

    def configure(self, plugin_id: str, changes: Mapping[str, Any]) -> PluginSettings:
        """Change the plugin's settings (a merge-patch); the plugin reloads with them.

        A bad value raises ``ConfigError`` naming the key and changes nothing.
        """
        plugin = self._editable(plugin_id)
        settings = self._settings_service.configure(plugin, changes)
        self.inventory.invalidate()  # `enabled` may have changed
        mutations.notify(self)
        return settings

    def set_rotation_order(self, order: Sequence[PluginId]) -> tuple[str, ...]:
        """Show these installed plugins first, in this order (the rest follow by id)."""
        installed = {p.id for p in self.inventory.list()}
        written = self._settings_service.set_rotation_order(order, installed)
        mutations.notify(self)
        return written

    def set_schedules(
        self, schedule: Mapping[str, Any] | None, dim_schedule: Mapping[str, Any] | None
    ) -> Blocks:
        """Merge-patch the file's ``schedule``/``dim_schedule`` (None: unchanged), validated.

        A bad value raises ``ConfigError`` naming the key and writes nothing.
        Returns both blocks as written (the display applies them).
        """

        def build(old: Blocks) -> Blocks:
            new = merge_patch(old[0], schedule or {}), merge_patch(old[1], dim_schedule or {})
            try:
                parse_schedule(new[0])
                parse_dim_schedule(new[1])
            except ConfigError as exc:  # the message names the key, as `configure` does
                raise ConfigError(f"{exc.key}: {exc.message}", key=exc.key) from None
            return new

        return self.config_editor.update_schedules(build)
