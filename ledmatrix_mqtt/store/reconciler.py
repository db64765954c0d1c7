"""The reconcile executor: gather inputs, ask ``core.reconcile.plan``, apply it once.

A pass never loops and never re-triggers itself, so an id that cannot be
repaired is not reinstalled over and over. Ids whose
auto-repair failed permanently are remembered in ``state_path`` (so a restart
does not retry them either) until a ``force`` pass. A registry that cannot be
reached is transient and never marks anything unrecoverable (a flaky network
at boot must not condemn every plugin).
Uninstall records and tombstones are re-checked right before each action, so a
reconcile that fires in the middle of an uninstall cannot resurrect the plugin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ledmatrix_mqtt.api import ReconcileItem, ReconcileReport
from ledmatrix_mqtt.core.ids import PluginId, is_valid_plugin_id
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    PluginSource,
    Registry,
    RegistryEntry,
)
from ledmatrix_mqtt.core.reconcile import (
    Action,
    ActionKind,
    ActualState,
    DesiredState,
    Inconsistency,
    IssueKind,
    PlanPolicy,
    ReconcilePlan,
    plan,
)
from ledmatrix_mqtt.core.registry_format import alias_table
from ledmatrix_mqtt.errors import (
    Busy,
    Forbidden,
    Incompatible,
    InvalidArchive,
    InvalidManifest,
    LedMatrixError,
    NotFound,
)
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json
from ledmatrix_mqtt.store.inventory import enabled_in_config

_LOG = logging.getLogger(__name__)
MISSING = IssueKind.MISSING_ON_DISK

# Errors that will fail again the same way until something changes (registry
# content, plugin release, policy): remembered as unrecoverable until ``force``.
# Everything else (RegistryUnavailable, DownloadFailed, Busy, StorageFailed...)
# is transient and retried on the next pass.
PERMANENT_ERRORS: tuple[type[LedMatrixError], ...] = (
    NotFound,
    Incompatible,
    InvalidArchive,
    InvalidManifest,
    Forbidden,
)


class InstalledSource(Protocol):
    """What is on disk (``store.inventory.PluginInventory``)."""

    def list(self) -> Sequence[InstalledPlugin]: ...

    def invalidate(self) -> None: ...


class PluginConfig(Protocol):
    """The config file's ``plugins`` blocks (``config_editor.ConfigEditor``)."""

    def plugin_blocks(self) -> Mapping[str, Mapping[str, Any]]: ...

    def ensure_block(self, plugin_id: PluginId, *, enabled: bool) -> bool: ...


class RemovalRecords(Protocol):
    """Uninstall intent (``store.records.UninstallRecords``)."""

    def is_uninstalled(self, plugin_id: str) -> bool: ...

    def tombstoned(self, plugin_id: str) -> bool: ...


InstallFn = Callable[[PluginId], InstallResult]
ResolveFn = Callable[[str], RegistryEntry]


class UnrecoverableSet:
    """Ids whose auto-repair failed permanently, persisted as atomic JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = read_json(path, default={})
        items = data.get("unrecoverable") if isinstance(data, dict) else None
        self._reasons: dict[str, str] = {
            k: str(v) for k, v in (items or {}).items() if is_valid_plugin_id(k)
        }

    def ids(self) -> frozenset[str]:
        return frozenset(self._reasons)

    def reason(self, plugin_id: str) -> str:
        return self._reasons.get(plugin_id, "")

    def mark(self, plugin_id: str, reason: str) -> None:
        self._reasons[plugin_id] = reason
        self._save()

    def keep_only(self, ids: set[str]) -> None:
        stale = set(self._reasons) - ids
        if stale:
            for plugin_id in stale:
                del self._reasons[plugin_id]
            self._save()

    def clear(self) -> None:
        if self._reasons:
            self._reasons.clear()
            self._save()

    def _save(self) -> None:
        atomic_write_json(self.path, {"unrecoverable": dict(sorted(self._reasons.items()))})


def _item(issue: Inconsistency, *, detail: str = "", error_code: str = "") -> ReconcileItem:
    return ReconcileItem(
        plugin_id=issue.plugin_id,
        kind=str(issue.kind),
        action=str(issue.action),
        detail=detail or issue.detail,
        error_code=error_code,
    )


class Reconciler:
    """One long-lived reconciler. ``reconcile`` runs one pass; concurrent calls raise Busy."""

    def __init__(
        self,
        installed: InstalledSource,
        *,
        install: InstallFn,
        resolve: ResolveFn,
        config: PluginConfig,
        records: RemovalRecords,
        state_path: Path,
        registry: Callable[[], Registry | None] = lambda: None,
        loaded: Callable[[], Iterable[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._installed = installed
        self._install = install
        self._resolve = resolve
        self._config = config
        self._records = records
        self._unrecoverable = UnrecoverableSet(state_path)
        self._registry = registry
        self._loaded = loaded
        self._clock = clock
        self._pass_lock = threading.Lock()
        self._last: ReconcileReport | None = None

    def last_report(self) -> ReconcileReport | None:
        """The report of the last pass that acted (dry runs are not kept)."""
        return self._last

    def unrecoverable(self) -> frozenset[str]:
        return self._unrecoverable.ids()

    def reconcile(self, *, force: bool = False, dry_run: bool = False) -> ReconcileReport:
        """Run one pass. ``force`` forgets unrecoverable ids first; ``dry_run`` only plans."""
        if not self._pass_lock.acquire(blocking=False):
            raise Busy("a reconcile pass is already running")
        try:
            if force and not dry_run:
                self._unrecoverable.clear()
            current = self.plan(force=force)
            if dry_run:
                return self._dry_report(current)
            # An id that came back (installed by hand) or left the config is no longer stuck.
            missing = {i.plugin_id for i in current.inconsistencies if i.kind is MISSING}
            self._unrecoverable.keep_only(missing)
            report = self._apply(current)
            self._last = report
            return report
        finally:
            self._pass_lock.release()

    def plan(self, *, force: bool = False) -> ReconcilePlan:
        """The plan a pass would apply now (reads disk, config, records; no changes)."""
        blocks = self._config.plugin_blocks()
        desired = DesiredState({pid: enabled_in_config(blocks, pid) for pid in blocks})
        actual = self._actual_state(blocks)
        ids = set(desired.blocks) | actual.present
        valid = [pid for pid in ids if is_valid_plugin_id(pid)]
        policy = PlanPolicy(
            uninstalled=frozenset(p for p in valid if self._records.is_uninstalled(p)),
            tombstoned=frozenset(p for p in valid if self._records.tombstoned(p)),
            unrecoverable=self._unrecoverable.ids(),
            force=force,
        )
        return plan(desired, actual, policy)

    def _actual_state(self, blocks: Mapping[str, Any]) -> ActualState:
        plugins = list(self._installed.list())
        installed = frozenset(p.id for p in plugins if p.source is not PluginSource.BUILTIN)
        builtin = frozenset(p.id for p in plugins if p.source is PluginSource.BUILTIN)
        present = installed | builtin
        # Only the registry marker proves a store install; a git checkout may be hand-made.
        by_store = (PluginSource.REGISTRY,)
        return ActualState(
            installed=installed,
            builtin=builtin,
            store_installed=frozenset(p.id for p in plugins if p.source in by_store),
            broken={p.id: p.error for p in plugins if p.error},
            aliases=self._aliases(set(blocks) - present, plugins),
            loaded=frozenset(self._loaded()) if self._loaded is not None else None,
        )

    def _aliases(self, names: set[str], plugins: list[InstalledPlugin]) -> dict[str, str]:
        """Config names satisfied by an installed plugin under another name: the registry id
        its source marker records, or an alias in the cached registry."""
        if not names:
            return {}
        out: dict[str, str] = {
            p.registry_id: p.id for p in plugins if p.registry_id and p.registry_id in names
        }
        registry = self._registry()
        if registry is None:
            return out
        present = frozenset(p.id for p in plugins)
        table = alias_table(registry)
        for name in names - out.keys():
            entry = table.resolve(name)
            match = sorted(table.names_for(entry) & present) if entry is not None else []
            if match:
                out[name] = match[0]
        return out

    def _dry_report(self, current: ReconcilePlan) -> ReconcileReport:
        return ReconcileReport(
            dry_run=True,
            inconsistencies=tuple(_item(i) for i in current.inconsistencies),
            needs_attention=tuple(_item(i) for i in current.needs_person),
            finished_at=self._clock(),
        )

    def _apply(self, current: ReconcilePlan) -> ReconcileReport:
        fixed: list[ReconcileItem] = []
        attention: list[ReconcileItem] = [_item(i) for i in current.needs_person]
        for action in current.actions:
            issue = next(
                i
                for i in current.inconsistencies
                if i.plugin_id == action.plugin_id and i.action is action.kind
            )
            done, item = self._act(action, issue)
            (fixed if done else attention).append(item)
        if fixed:
            self._installed.invalidate()
        report = ReconcileReport(
            dry_run=False,
            inconsistencies=tuple(_item(i) for i in current.inconsistencies),
            fixed=tuple(fixed),
            needs_attention=tuple(attention),
            finished_at=self._clock(),
        )
        _LOG.info(
            "reconcile: %d inconsistencies, %d fixed, %d need attention",
            len(report.inconsistencies),
            len(report.fixed),
            len(report.needs_attention),
        )
        return report

    def _blocked(self, plugin_id: str) -> str:
        if self._records.tombstoned(plugin_id):
            return "an uninstall started during this pass (tombstoned); left alone"
        if self._records.is_uninstalled(plugin_id):
            return "uninstalled during this pass; left alone"
        return ""

    def _act(self, action: Action, issue: Inconsistency) -> tuple[bool, ReconcileItem]:
        blocked = self._blocked(action.plugin_id)
        if blocked:
            return False, _item(issue, detail=blocked)
        try:
            if action.kind is ActionKind.ADD_CONFIG_BLOCK:
                self._config.ensure_block(action.plugin_id, enabled=action.enabled)
                return True, _item(issue)
            return self._repair(issue)
        except LedMatrixError as exc:
            _LOG.warning("reconcile %s of %s failed: %s", action.kind, action.plugin_id, exc)
            return False, _item(issue, detail=exc.message, error_code=exc.code)

    def _repair(self, issue: Inconsistency) -> tuple[bool, ReconcileItem]:
        """Resolve in the registry, then install. Raises the port's typed errors."""
        plugin_id = issue.plugin_id
        try:
            entry = self._resolve(plugin_id)
            blocked = self._blocked(plugin_id)
            if blocked:
                return False, _item(issue, detail=blocked)
            result = self._install(entry.id)
        except PERMANENT_ERRORS as exc:
            self._unrecoverable.mark(plugin_id, f"{exc.code}: {exc.message}")
            detail = f"{exc.message}; not retried until reconcile with force"
            return False, _item(issue, detail=detail, error_code=exc.code)
        detail = f"installed {result.plugin_id} {result.version}".strip()
        if result.plugin_id != plugin_id:
            detail += f" (config key {plugin_id!r} is an alias of {result.plugin_id!r})"
        return True, _item(issue, detail=detail)
