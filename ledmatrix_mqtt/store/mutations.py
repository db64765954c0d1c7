"""What each queued store operation does: install, update, uninstall, reconcile.

``PluginStore`` checks the arguments and queues; these functions, each over the
store's parts, run on the one operation queue, one operation at a time.

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
from typing import TYPE_CHECKING

from ledmatrix_mqtt.api import ProgressFn, ReconcileReport, UpdateAllResult
from ledmatrix_mqtt.core.ids import PluginId
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    PluginSource,
    Progress,
    Stage,
    UninstallResult,
)
from ledmatrix_mqtt.errors import Forbidden, IdConflict, LedMatrixError, NotInstalled

if TYPE_CHECKING:
    from ledmatrix_mqtt.store.installer import SourceUrl
    from ledmatrix_mqtt.store.service import PluginStore

_LOG = logging.getLogger(__name__)


def install(
    store: PluginStore, plugin_id: PluginId, report: ProgressFn, version: str = ""
) -> InstallResult:
    """The entry's branch head, or with ``version`` that release (the archive its
    ``versions[]`` lists, else tag ``v<version>``); a pinned release is not the latest."""
    report(Progress("install", plugin_id, Stage.RESOLVING, 0))
    entry = store.registry.resolve(plugin_id, refresh=True)
    result = store.installer.install_entry(entry, version=version, progress=report)
    _after_install(store, result, entry.id, plugin_id)
    return result


def install_url(
    store: PluginStore, url: SourceUrl, branch: str, plugin_path: str, report: ProgressFn
) -> InstallResult:
    result = store.installer.install_from_url(
        url, branch=branch, plugin_path=plugin_path, progress=report
    )
    _after_install(store, result)
    return result


def _after_install(store: PluginStore, result: InstallResult, *aliases: PluginId) -> None:
    store.records.forget(result.plugin_id, *aliases)
    for alias in aliases:  # settings written under the registry id follow the plugin
        store.config_editor.rename_block(alias, result.plugin_id)
    store.config_editor.set_enabled(result.plugin_id, True)
    store.inventory.invalidate()
    notify(store)


def uninstall(store: PluginStore, plugin_id: PluginId, report: ProgressFn) -> UninstallResult:
    plugin = installed(store, plugin_id)
    if plugin.source == PluginSource.BUILTIN:
        raise Forbidden(f"{plugin_id} is built in; disable it instead of uninstalling it")
    report(Progress("uninstall", plugin_id, Stage.REMOVING, 10))
    store.records.record_uninstalled(plugin_id)  # intent first: reconcile must not revive it
    try:
        store.hooks.before_remove(plugin_id)
        ticket = store.installer.remove(plugin_id)
    except BaseException:
        store.records.forget(plugin_id)
        notify(store)
        raise
    try:
        report(Progress("uninstall", plugin_id, Stage.REMOVING, 60))
        block = store.config_editor.remove_block(plugin_id)
    except BaseException:
        ticket.rollback()
        store.records.forget(plugin_id)
        notify(store)
        raise
    ticket.commit()
    store.inventory.invalidate()
    notify(store)
    report(Progress("uninstall", plugin_id, Stage.DONE, 100))
    return UninstallResult(plugin_id, removed_files=True, removed_config=block is not None)


def update(store: PluginStore, plugin_id: PluginId, report: ProgressFn) -> InstallResult:
    plugin = installed(store, plugin_id)
    if plugin.source == PluginSource.BUILTIN:
        return InstallResult(plugin_id, "up_to_date", plugin.version, plugin.version,
                             source=PluginSource.BUILTIN, message="built in")  # fmt: skip
    report(Progress("update", plugin_id, Stage.RESOLVING, 0))
    if plugin.git is not None and plugin.source != PluginSource.REGISTRY:
        result = store.installer.update_git_checkout(plugin_id, progress=report)
    elif plugin.source == PluginSource.URL:
        raise IdConflict(
            f"{plugin_id} was installed from a URL; the registry does not update it "
            "(install from its URL again to update it)",
            details={"plugin_id": plugin_id},
        )
    else:
        entry = store.registry.resolve(plugin.registry_id or plugin_id, refresh=True)
        result = store.installer.update_entry(plugin_id, entry, progress=report)
    if result.action != "up_to_date":
        store.inventory.invalidate()
        notify(store)
    return result


def update_all(store: PluginStore, report: ProgressFn) -> UpdateAllResult:
    """One queued operation that updates each plugin in turn (never re-queues).

    Like ``search``, an unreachable registry falls back to the held copy (the
    list then compares against that stale copy); ``RegistryUnavailable`` only
    when no copy is held at all.
    """
    registry = store.registry.fetch_registry(force_refresh=True)
    if registry.stale:
        _LOG.warning("update --all uses the cached registry copy: the registry is unreachable")
    store.inventory.invalidate()
    results: list[InstallResult] = []
    errors: list[tuple[str, LedMatrixError]] = []
    for plugin in store.inventory.list():
        if plugin.source == PluginSource.BUILTIN or not (plugin.update_available or plugin.git):
            continue
        try:
            results.append(update(store, plugin.id, report))
        except LedMatrixError as exc:
            errors.append((plugin.id, exc))
    return UpdateAllResult(results=tuple(results), errors=tuple(errors), stale=registry.stale)


def reconcile(
    store: PluginStore, force: bool, dry_run: bool, report: ProgressFn
) -> ReconcileReport:
    report(Progress("reconcile", "", Stage.RESOLVING, 0))
    if not dry_run:
        _refresh_registry_for_repairs(store, force)
    result = store.reconciler.reconcile(force=force, dry_run=dry_run)
    if not dry_run and (result.fixed or result.needs_attention):
        store.inventory.invalidate()
        notify(store)
    return result


def _refresh_registry_for_repairs(store: PluginStore, force: bool) -> None:
    """A pass that will reinstall something asks the network once, past any back-off.

    Without this, a reconcile right after an outage would fail from the cache's
    60 s back-off although the network is back.
    """
    needs_install = any(a.kind == "install" for a in store.reconciler.plan(force=force).actions)
    if needs_install:
        try:
            store.registry.fetch_registry(force_refresh=True)
        except LedMatrixError as exc:
            _LOG.info("registry refresh before reconcile failed: %s", exc.message)


def installed(store: PluginStore, plugin_id: str) -> InstalledPlugin:
    """The installed plugin; ``NotInstalled`` when there is none."""
    plugin = store.inventory.get(plugin_id)
    if plugin is None:
        raise NotInstalled(f"plugin {plugin_id!r} is not installed")
    return plugin


def notify(store: PluginStore, *, wait: bool = True) -> None:
    try:
        store.hooks.changed(wait=wait)
    except Exception:  # a display/MQTT hiccup must not fail a finished install
        _LOG.exception("store change hook failed")
