"""``PluginStore``: the one store API the MQTT front end, the CLI and the app call.

It composes the registry client, installer, inventory, uninstall records,
config editor and reconciler, and runs every mutation through the single
:class:`OperationQueue`. Reads (list, search) never enter the queue.

Ordering rules (each keeps a failure from losing or resurrecting a plugin):
- uninstall records the intent (persistent record + tombstone) first, unloads
  the plugin from the display, moves the folder aside, drops the config block,
  and only then deletes the files; any failure rolls every step back;
- install and update never delete the installed copy before the new one is
  proven (the installer swaps with a rollback aside);
- a store install enables the plugin; installing again clears the uninstall record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

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
from ledmatrix_mqtt.core.ids import validate_plugin_id
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    PluginSource,
    Progress,
    Stage,
    StoreEntry,
    UninstallResult,
)
from ledmatrix_mqtt.core.plugin_settings import PluginSettings, merge_patch
from ledmatrix_mqtt.core.registry_format import names_of
from ledmatrix_mqtt.core.schedule import parse_dim_schedule, parse_schedule
from ledmatrix_mqtt.errors import ConfigError, Forbidden, IdConflict, LedMatrixError, NotInstalled
from ledmatrix_mqtt.fsutil import remove_stale_temps
from ledmatrix_mqtt.store.installer import Installer
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.operations import OperationQueue
from ledmatrix_mqtt.store.reconciler import Reconciler
from ledmatrix_mqtt.store.records import UninstallRecords
from ledmatrix_mqtt.store.registry_client import RegistryClient
from ledmatrix_mqtt.store.settings import PluginSettingsService, SettingsEditor

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
    def set_enabled(self, plugin_id: str, enabled: bool) -> bool: ...

    def remove_block(self, plugin_id: str) -> Any: ...

    def rename_block(self, old_id: str, new_id: str) -> bool: ...

    def update_schedules(self, build: Callable[[Blocks], Blocks]) -> Blocks: ...


@dataclass(frozen=True, eq=False)
class PluginStore:
    """Implements ``ledmatrix_mqtt.api.StoreApi`` over the parts ``wiring.build_store`` makes."""

    store_config: StoreConfig
    registry: RegistryClient
    installer: Installer
    inventory: PluginInventory
    records: UninstallRecords
    config_editor: PluginConfigEditor
    reconciler: Reconciler
    operations: OperationQueue
    hooks: StoreHooks = field(default_factory=NoHooks)
    default_duration: float = 15.0  # shown for plugins whose block sets none

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
        by_name = {p.id: p for p in plugins if p.source == PluginSource.LOCAL}
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
        """Checks the arguments now (so bad input fails before queueing) and returns the work."""
        if op.kind == "install" and op.url:
            self._check_url_allowed()
            return lambda r: self._install_url(op.url, op.branch, op.plugin_path, r)
        if op.kind == "update_all":
            return self._update_all
        if op.kind == "reconcile":
            return lambda r: self._reconcile(op.force, op.dry_run, r)
        plugin_id = validate_plugin_id(op.plugin_id)
        if op.kind == "install":
            return lambda r: self._install(plugin_id, r)
        if op.kind == "uninstall":
            return lambda r: self._uninstall(plugin_id, r)
        return lambda r: self._update(plugin_id, r)

    def add_operation_listener(self, callback: OperationListener) -> None:
        self.operations.add_listener(callback)

    # Blocking forms for the offline CLI and start-up work: submit and wait.
    def install(self, plugin_id: str, *, progress: ProgressFn | None = None) -> InstallResult:
        result = self.submit(StoreOp("install", plugin_id), progress=progress).result()
        assert isinstance(result, InstallResult)
        return result

    def _install(self, plugin_id: str, report: ProgressFn, version: str = "") -> InstallResult:
        """The entry's branch head, or with ``version`` that release (the archive its
        ``versions[]`` lists, else tag ``v<version>``); a pinned release is not the latest."""
        report(Progress("install", plugin_id, Stage.RESOLVING, 0))
        entry = self.registry.resolve(plugin_id, refresh=True)
        result = self.installer.install_entry(entry, version=version, progress=report)
        self._after_install(result, entry.id, plugin_id)
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

    def _check_url_allowed(self) -> None:
        if not self.store_config.allow_install_from_url:
            raise Forbidden(
                "installing from a URL runs foreign code and is disabled; "
                "set store.allow_install_from_url: true to allow it"
            )

    def _install_url(
        self, url: str, branch: str, plugin_path: str, report: ProgressFn
    ) -> InstallResult:
        result = self.installer.install_from_url(
            url, branch=branch, plugin_path=plugin_path, progress=report, allowed=True
        )
        self._after_install(result)
        return result

    def _after_install(self, result: InstallResult, *aliases: str) -> None:
        self.records.forget(result.plugin_id, *aliases)
        for alias in aliases:  # settings written under the registry id follow the plugin
            self.config_editor.rename_block(alias, result.plugin_id)
        self.config_editor.set_enabled(result.plugin_id, True)
        self.inventory.invalidate()
        self._notify()

    def uninstall(self, plugin_id: str, *, progress: ProgressFn | None = None) -> UninstallResult:
        result = self.submit(StoreOp("uninstall", plugin_id), progress=progress).result()
        assert isinstance(result, UninstallResult)
        return result

    def _uninstall(self, plugin_id: str, report: ProgressFn) -> UninstallResult:
        plugin = self._installed(plugin_id)
        if plugin.source == PluginSource.BUILTIN:
            raise Forbidden(f"{plugin_id} is built in; disable it instead of uninstalling it")
        report(Progress("uninstall", plugin_id, Stage.REMOVING, 10))
        self.records.record_uninstalled(plugin_id)  # intent first: reconcile must not revive it
        try:
            self.hooks.before_remove(plugin_id)
            ticket = self.installer.remove(plugin_id)
        except BaseException:
            self.records.forget(plugin_id)
            self._notify()
            raise
        try:
            report(Progress("uninstall", plugin_id, Stage.REMOVING, 60))
            block = self.config_editor.remove_block(plugin_id)
        except BaseException:
            ticket.rollback()
            self.records.forget(plugin_id)
            self._notify()
            raise
        ticket.commit()
        self.inventory.invalidate()
        self._notify()
        report(Progress("uninstall", plugin_id, Stage.DONE, 100))
        return UninstallResult(plugin_id, removed_files=True, removed_config=block is not None)

    def update(self, plugin_id: str, *, progress: ProgressFn | None = None) -> InstallResult:
        result = self.submit(StoreOp("update", plugin_id), progress=progress).result()
        assert isinstance(result, InstallResult)
        return result

    def _update(self, plugin_id: str, report: ProgressFn) -> InstallResult:
        plugin = self._installed(plugin_id)
        if plugin.source == PluginSource.BUILTIN:
            return InstallResult(plugin_id, "up_to_date", plugin.version, plugin.version,
                                 source=PluginSource.BUILTIN, message="built in")  # fmt: skip
        report(Progress("update", plugin_id, Stage.RESOLVING, 0))
        if plugin.git is not None and plugin.source != PluginSource.REGISTRY:
            result = self.installer.update_git_checkout(plugin_id, progress=report)
        elif plugin.source == PluginSource.URL:
            raise IdConflict(
                f"{plugin_id} was installed from a URL; the registry does not update it "
                "(install from its URL again to update it)",
                details={"plugin_id": plugin_id},
            )
        else:
            entry = self.registry.resolve(plugin.registry_id or plugin_id, refresh=True)
            result = self.installer.update_entry(plugin_id, entry, progress=report)
        if result.action != "up_to_date":
            self.inventory.invalidate()
            self._notify()
        return result

    def update_all(self, *, progress: ProgressFn | None = None) -> UpdateAllResult:
        result = self.submit(StoreOp("update_all"), progress=progress).result()
        assert isinstance(result, UpdateAllResult)
        return result

    def _update_all(self, report: ProgressFn) -> UpdateAllResult:
        """One queued operation that updates each plugin in turn (never re-queues).

        Like ``search``, an unreachable registry falls back to the held copy (the
        list then compares against that stale copy); ``RegistryUnavailable`` only
        when no copy is held at all.
        """
        registry = self.registry.fetch_registry(force_refresh=True)
        if registry.stale:
            _LOG.warning("update --all uses the cached registry copy: the registry is unreachable")
        self.inventory.invalidate()
        results: list[InstallResult] = []
        errors: list[tuple[str, LedMatrixError]] = []
        for plugin in self.inventory.list():
            if plugin.source == PluginSource.BUILTIN or not (plugin.update_available or plugin.git):
                continue
            try:
                results.append(self._update(plugin.id, report))
            except LedMatrixError as exc:
                errors.append((plugin.id, exc))
        return UpdateAllResult(results=tuple(results), errors=tuple(errors), stale=registry.stale)

    def reconcile(self, *, force: bool = False, dry_run: bool = False) -> ReconcileReport:
        result = self.submit(StoreOp("reconcile", force=force, dry_run=dry_run)).result()
        assert isinstance(result, ReconcileReport)
        return result

    def _reconcile(self, force: bool, dry_run: bool, report: ProgressFn) -> ReconcileReport:
        report(Progress("reconcile", "", Stage.RESOLVING, 0))
        if not dry_run:
            self._refresh_registry_for_repairs(force)
        result = self.reconciler.reconcile(force=force, dry_run=dry_run)
        if not dry_run and (result.fixed or result.needs_attention):
            self.inventory.invalidate()
            self._notify()
        return result

    def _refresh_registry_for_repairs(self, force: bool) -> None:
        """A pass that will reinstall something asks the network once, past any back-off.

        Without this, a reconcile right after an outage would fail from the cache's
        60 s back-off although the network is back.
        """
        needs_install = any(a.kind == "install" for a in self.reconciler.plan(force=force).actions)
        if needs_install:
            try:
                self.registry.fetch_registry(force_refresh=True)
            except LedMatrixError as exc:
                _LOG.info("registry refresh before reconcile failed: %s", exc.message)

    def recover_at_start(self, config_path: str = "") -> list[str]:
        """Crash recovery before anything else runs (service start, offline CLI).

        Finishes or rolls back interrupted swaps, removes temp files a killed
        config write left, and completes recorded uninstalls.
        """
        recovered = self.installer.recover()
        if config_path:
            recovered += remove_stale_temps(Path(config_path))
        return recovered + self.finish_interrupted_uninstalls()

    def finish_interrupted_uninstalls(self) -> list[str]:
        """Complete uninstalls that were recorded but not finished.

        The intent is recorded first, so a crash (or power cut) part-way leaves the
        files, or (once ``installer.recover()`` has finished removing them) only the
        config block. Both are completed here; run once at start-up, after
        ``installer.recover()``. A recorded uninstall is never undone by files
        reappearing. Expired tombstones are pruned afterwards.
        """
        done = []
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
        for plugin_id in sorted((self.records.tombstones() & recorded) - present):
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
        validate_plugin_id(plugin_id)
        self._installed(plugin_id)
        if self.records.is_uninstalled(plugin_id):
            raise NotInstalled(f"plugin {plugin_id!r} is being uninstalled")
        self.config_editor.set_enabled(plugin_id, enabled)
        self.inventory.invalidate()
        self._notify(wait=False)  # loading or cleaning up the plugin must not delay the answer
        return self._installed(plugin_id)

    # -- helpers ------------------------------------------------------------------------
    def _installed(self, plugin_id: str) -> InstalledPlugin:
        plugin = self.inventory.get(plugin_id)
        if plugin is None:
            raise NotInstalled(f"plugin {plugin_id!r} is not installed")
        return plugin

    def _notify(self, *, wait: bool = True) -> None:
        try:
            self.hooks.changed(wait=wait)
        except Exception:  # a display/MQTT hiccup must not fail a finished install
            _LOG.exception("store change hook failed")

    # -- plugin settings and rotation order (not queued: they answer at once, like
    # set_enabled, and the config editor serialises the writes) ------------------------
    def plugin_settings(self, plugin_id: str) -> PluginSettings:
        """The plugin's effective settings (secrets masked) and its simple settings."""
        return self._settings_service.current(self._installed(plugin_id))

    def configure(self, plugin_id: str, changes: Mapping[str, Any]) -> PluginSettings:
        """Change the plugin's settings (a merge-patch); the plugin reloads with them.

        A bad value raises ``ConfigError`` naming the key and changes nothing.
        """
        validate_plugin_id(plugin_id)
        plugin = self._installed(plugin_id)
        if self.records.is_uninstalled(plugin_id):
            raise NotInstalled(f"plugin {plugin_id!r} is being uninstalled")
        settings = self._settings_service.configure(plugin, changes)
        self.inventory.invalidate()  # `enabled` may have changed
        self._notify()
        return settings

    def set_rotation_order(self, order: Sequence[str]) -> tuple[str, ...]:
        """Show these installed plugins first, in this order (the rest follow by id)."""
        installed = {p.id for p in self.inventory.list()}
        written = self._settings_service.set_rotation_order(order, installed)
        self._notify()
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
