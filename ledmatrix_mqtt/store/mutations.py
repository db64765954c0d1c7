"""What each queued store operation does: install, update, uninstall, reconcile.

``PluginStore`` checks the arguments and queues; the work below runs on the one
operation queue, one operation at a time.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ledmatrix_mqtt.api import ProgressFn, ReconcileReport, UpdateAllResult
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    PluginSource,
    Progress,
    Stage,
    UninstallResult,
)
from ledmatrix_mqtt.errors import Forbidden, IdConflict, LedMatrixError, NotInstalled
from ledmatrix_mqtt.store.installer import Installer
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.reconciler import Reconciler
from ledmatrix_mqtt.store.records import UninstallRecords
from ledmatrix_mqtt.store.registry_client import RegistryClient
from ledmatrix_mqtt.store.settings import SettingsEditor

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
class StoreMutations:
    """The queued work over the store's parts; each method takes checked arguments."""

    registry: RegistryClient
    installer: Installer
    inventory: PluginInventory
    records: UninstallRecords
    config_editor: PluginConfigEditor
    reconciler: Reconciler
    hooks: StoreHooks

    def install(self, plugin_id: str, report: ProgressFn, version: str = "") -> InstallResult:
        """The entry's branch head, or with ``version`` that release (the archive its
        ``versions[]`` lists, else tag ``v<version>``); a pinned release is not the latest."""
        report(Progress("install", plugin_id, Stage.RESOLVING, 0))
        entry = self.registry.resolve(plugin_id, refresh=True)
        result = self.installer.install_entry(entry, version=version, progress=report)
        self._after_install(result, entry.id, plugin_id)
        return result

    def install_url(
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
        self.notify()

    def uninstall(self, plugin_id: str, report: ProgressFn) -> UninstallResult:
        plugin = self.installed(plugin_id)
        if plugin.source == PluginSource.BUILTIN:
            raise Forbidden(f"{plugin_id} is built in; disable it instead of uninstalling it")
        report(Progress("uninstall", plugin_id, Stage.REMOVING, 10))
        self.records.record_uninstalled(plugin_id)  # intent first: reconcile must not revive it
        try:
            self.hooks.before_remove(plugin_id)
            ticket = self.installer.remove(plugin_id)
        except BaseException:
            self.records.forget(plugin_id)
            self.notify()
            raise
        try:
            report(Progress("uninstall", plugin_id, Stage.REMOVING, 60))
            block = self.config_editor.remove_block(plugin_id)
        except BaseException:
            ticket.rollback()
            self.records.forget(plugin_id)
            self.notify()
            raise
        ticket.commit()
        self.inventory.invalidate()
        self.notify()
        report(Progress("uninstall", plugin_id, Stage.DONE, 100))
        return UninstallResult(plugin_id, removed_files=True, removed_config=block is not None)

    def update(self, plugin_id: str, report: ProgressFn) -> InstallResult:
        plugin = self.installed(plugin_id)
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
            self.notify()
        return result

    def update_all(self, report: ProgressFn) -> UpdateAllResult:
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
                results.append(self.update(plugin.id, report))
            except LedMatrixError as exc:
                errors.append((plugin.id, exc))
        return UpdateAllResult(results=tuple(results), errors=tuple(errors), stale=registry.stale)

    def reconcile(self, force: bool, dry_run: bool, report: ProgressFn) -> ReconcileReport:
        report(Progress("reconcile", "", Stage.RESOLVING, 0))
        if not dry_run:
            self._refresh_registry_for_repairs(force)
        result = self.reconciler.reconcile(force=force, dry_run=dry_run)
        if not dry_run and (result.fixed or result.needs_attention):
            self.inventory.invalidate()
            self.notify()
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

    # -- shared with the unqueued calls ----------------------------------------------
    def installed(self, plugin_id: str) -> InstalledPlugin:
        """The installed plugin; ``NotInstalled`` when there is none."""
        plugin = self.inventory.get(plugin_id)
        if plugin is None:
            raise NotInstalled(f"plugin {plugin_id!r} is not installed")
        return plugin

    def notify(self, *, wait: bool = True) -> None:
        try:
            self.hooks.changed(wait=wait)
        except Exception:  # a display/MQTT hiccup must not fail a finished install
            _LOG.exception("store change hook failed")
