"""The reconcile planner: compare desired state (config) with actual state (disk).

Pure: plain values in, a frozen plan out; no I/O, no threads. The executor
(``store.reconciler``) gathers the inputs and applies the actions.

Rules (one each, so every case has exactly one outcome):

* A plugin on disk (or a built-in) without a config block gets a block. Found
  folders get a *disabled* block; built-ins and folders the store installed
  (an install interrupted before its config write) get an enabled one, the
  same rule as a completed store install. Never for an id that is recorded as
  uninstalled or tombstoned (an uninstall may be in progress).
* A config block without a plugin on disk is repaired by an install, unless the
  id is recorded as uninstalled or tombstoned (never resurrected), or known to
  be unrecoverable and ``force`` is off; those need a person.
* Built-ins are never "missing"; a config name that is an alias of an installed
  plugin is satisfied by it.
* A folder with a broken manifest, a block with an invalid id, and an enabled
  plugin the runtime did not load need a person.
* ``enabled`` is never changed: the config wins over anything found on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from ledmatrix_mqtt.core.ids import PluginId, is_valid_plugin_id

_EMPTY: Mapping[str, str] = MappingProxyType({})


class ActionKind(StrEnum):
    INSTALL = "install"
    ADD_CONFIG_BLOCK = "add_config_block"
    NONE = "none"


class IssueKind(StrEnum):
    MISSING_ON_DISK = "missing_on_disk"
    MISSING_IN_CONFIG = "missing_in_config"
    BROKEN_MANIFEST = "broken_manifest"
    INVALID_ID = "invalid_id"
    NOT_LOADED = "not_loaded"
    UNINSTALL_PENDING = "uninstall_pending"


@dataclass(frozen=True)
class DesiredState:
    """The config's ``plugins`` blocks: config key -> ``enabled`` (the config's own value)."""

    blocks: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ActualState:
    """What is on disk, and optionally what the runtime loaded.

    ``broken`` maps an installed id to its manifest error. ``aliases`` maps a
    name a plugin is also known by (registry alias) to the installed id that
    satisfies it. ``loaded`` is None when the runtime is not consulted.
    """

    installed: frozenset[PluginId] = frozenset()
    builtin: frozenset[PluginId] = frozenset()
    store_installed: frozenset[str] = frozenset()  # installed by the store (marker present)
    broken: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    aliases: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    loaded: frozenset[str] | None = None

    @property
    def present(self) -> frozenset[PluginId]:
        return self.installed | self.builtin


@dataclass(frozen=True)
class PlanPolicy:
    """What must not be touched: uninstall records, live tombstones, known-unrecoverable ids."""

    uninstalled: frozenset[str] = frozenset()
    tombstoned: frozenset[str] = frozenset()
    unrecoverable: frozenset[str] = frozenset()
    force: bool = False


@dataclass(frozen=True)
class Action:
    """One change the executor should make. ``enabled`` is used by ADD_CONFIG_BLOCK."""

    kind: ActionKind
    plugin_id: PluginId
    enabled: bool = False


@dataclass(frozen=True)
class Inconsistency:
    """A difference found. ``action`` is the planned fix or NONE; ``needs_person`` if NONE."""

    plugin_id: str
    kind: IssueKind
    action: ActionKind
    detail: str = ""
    needs_person: bool = False


@dataclass(frozen=True)
class ReconcilePlan:
    actions: tuple[Action, ...] = ()
    inconsistencies: tuple[Inconsistency, ...] = ()

    @property
    def needs_person(self) -> tuple[Inconsistency, ...]:
        return tuple(i for i in self.inconsistencies if i.needs_person)


def _blocked_reason(plugin_id: str, policy: PlanPolicy) -> str:
    if plugin_id in policy.tombstoned:
        return "an uninstall of this plugin is in progress (tombstoned)"
    if plugin_id in policy.uninstalled:
        return "this plugin was uninstalled; install it again to restore it"
    return ""


def _missing_on_disk(
    plugin_id: PluginId, policy: PlanPolicy
) -> tuple[Inconsistency, Action | None]:
    blocked = _blocked_reason(plugin_id, policy)
    if blocked:
        detail = f"config block without files; {blocked}; remove the block or reinstall"
        return _manual(plugin_id, IssueKind.MISSING_ON_DISK, detail), None
    if plugin_id in policy.unrecoverable and not policy.force:
        detail = "not in the registry at the last attempt; run reconcile with force to retry"
        return _manual(plugin_id, IssueKind.MISSING_ON_DISK, detail), None
    issue = Inconsistency(
        plugin_id, IssueKind.MISSING_ON_DISK, ActionKind.INSTALL, "config block without files"
    )
    return issue, Action(ActionKind.INSTALL, plugin_id)


def _missing_in_config(
    plugin_id: PluginId, actual: ActualState, policy: PlanPolicy
) -> tuple[Inconsistency, Action | None]:
    blocked = _blocked_reason(plugin_id, policy)
    if blocked:
        # Never re-add a block for something being (or already) uninstalled.
        pending = plugin_id in policy.tombstoned or plugin_id in actual.builtin
        kind = IssueKind.UNINSTALL_PENDING if pending else IssueKind.MISSING_IN_CONFIG
        detail = f"on disk without a config block; {blocked}"
        return Inconsistency(
            plugin_id, kind, ActionKind.NONE, detail, needs_person=not pending
        ), None
    enabled = plugin_id in actual.builtin or plugin_id in actual.store_installed
    state = "enabled (installed by the store)" if enabled else "disabled"
    issue = Inconsistency(
        plugin_id,
        IssueKind.MISSING_IN_CONFIG,
        ActionKind.ADD_CONFIG_BLOCK,
        f"on disk without a config block; adding one, {state}",
    )
    return issue, Action(ActionKind.ADD_CONFIG_BLOCK, plugin_id, enabled=enabled)


def _manual(plugin_id: str, kind: IssueKind, detail: str) -> Inconsistency:
    return Inconsistency(plugin_id, kind, ActionKind.NONE, detail, needs_person=True)


def _config_issues(
    desired: DesiredState, actual: ActualState, policy: PlanPolicy
) -> list[tuple[Inconsistency, Action | None]]:
    out: list[tuple[Inconsistency, Action | None]] = []
    present = actual.present
    for plugin_id in sorted(desired.blocks):
        if not is_valid_plugin_id(plugin_id):
            detail = "config key under plugins is not a valid plugin id"
            out.append((_manual(plugin_id, IssueKind.INVALID_ID, detail), None))
        elif plugin_id not in present and actual.aliases.get(plugin_id) not in present:
            out.append(_missing_on_disk(plugin_id, policy))
    return out


def _not_loaded(plugin_id: str, desired: DesiredState, actual: ActualState) -> bool:
    if actual.loaded is None or desired.blocks.get(plugin_id) is not True:
        return False
    return plugin_id not in actual.loaded


def _disk_issues(
    desired: DesiredState, actual: ActualState, policy: PlanPolicy
) -> list[tuple[Inconsistency, Action | None]]:
    out: list[tuple[Inconsistency, Action | None]] = []
    satisfied = {actual.aliases.get(name, name) for name in desired.blocks}
    for plugin_id in sorted(actual.present):
        if plugin_id not in desired.blocks and plugin_id not in satisfied:
            out.append(_missing_in_config(plugin_id, actual, policy))
        error = actual.broken.get(plugin_id)
        if error:
            out.append((_manual(plugin_id, IssueKind.BROKEN_MANIFEST, error), None))
        elif _not_loaded(plugin_id, desired, actual):
            detail = "enabled in the config but not loaded by the runtime"
            out.append((_manual(plugin_id, IssueKind.NOT_LOADED, detail), None))
    return out


def plan(desired: DesiredState, actual: ActualState, policy: PlanPolicy) -> ReconcilePlan:
    """Everything that differs, with at most one action per plugin id, sorted by id."""
    pairs = _config_issues(desired, actual, policy) + _disk_issues(desired, actual, policy)
    pairs.sort(key=lambda pair: (pair[0].plugin_id, pair[0].kind))
    return ReconcilePlan(
        actions=tuple(action for _, action in pairs if action is not None),
        inconsistencies=tuple(issue for issue, _ in pairs),
    )
