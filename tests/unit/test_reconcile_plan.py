"""The pure reconcile planner, with plain values (no files, no fakes)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledmatrix_mqtt.core.reconcile import (
    Action,
    ActionKind,
    ActualState,
    DesiredState,
    IssueKind,
    PlanPolicy,
    ReconcilePlan,
    plan,
)


def _desired(**blocks: bool) -> DesiredState:
    return DesiredState({k.replace("_", "-"): v for k, v in blocks.items()})


def _actual(*installed: str, builtin: tuple[str, ...] = (), **kw: object) -> ActualState:
    return ActualState(installed=frozenset(installed), builtin=frozenset(builtin), **kw)  # type: ignore[arg-type]


def test_consistent_state_plans_nothing() -> None:
    result = plan(_desired(clock=True), _actual("clock"), PlanPolicy())
    assert result == ReconcilePlan()


def test_folder_without_config_block_gets_a_disabled_block() -> None:
    result = plan(_desired(), _actual("weather"), PlanPolicy())
    assert result.actions == (Action(ActionKind.ADD_CONFIG_BLOCK, "weather", enabled=False),)
    assert result.inconsistencies[0].kind is IssueKind.MISSING_IN_CONFIG
    assert not result.needs_person


def test_builtin_without_config_block_gets_an_enabled_block() -> None:
    result = plan(_desired(), _actual(builtin=("clock",)), PlanPolicy())
    assert result.actions == (Action(ActionKind.ADD_CONFIG_BLOCK, "clock", enabled=True),)


def test_config_block_without_files_is_installed() -> None:
    result = plan(_desired(weather=True), _actual(), PlanPolicy())
    assert result.actions == (Action(ActionKind.INSTALL, "weather"),)
    assert result.inconsistencies[0].kind is IssueKind.MISSING_ON_DISK


def test_builtin_is_never_missing() -> None:
    result = plan(_desired(clock=True), _actual(builtin=("clock",)), PlanPolicy())
    assert result.actions == ()
    assert result.inconsistencies == ()


def test_uninstalled_id_in_config_is_not_resurrected() -> None:
    """Upstream 39ccdcf0 (#309): the reconciler reinstalled a plugin being uninstalled."""
    result = plan(_desired(weather=True), _actual(), PlanPolicy(uninstalled=frozenset({"weather"})))
    assert result.actions == ()
    (issue,) = result.needs_person
    assert issue.kind is IssueKind.MISSING_ON_DISK and "uninstalled" in issue.detail


def test_tombstoned_id_is_not_resurrected_nor_given_a_block() -> None:
    policy = PlanPolicy(tombstoned=frozenset({"weather", "stocks"}))
    result = plan(_desired(weather=True), _actual("stocks"), policy)
    assert result.actions == ()
    kinds = {i.plugin_id: i.kind for i in result.inconsistencies}
    assert kinds == {"weather": IssueKind.MISSING_ON_DISK, "stocks": IssueKind.UNINSTALL_PENDING}


def test_uninstalled_builtin_gets_no_block_back() -> None:
    """Upstream d22d0a37 (#368): built-ins the user uninstalled came back."""
    policy = PlanPolicy(uninstalled=frozenset({"clock"}))
    result = plan(_desired(), _actual(builtin=("clock",)), policy)
    assert result.actions == ()
    assert result.inconsistencies[0].kind is IssueKind.UNINSTALL_PENDING
    assert not result.needs_person


def test_recorded_uninstalled_folder_on_disk_needs_a_person() -> None:
    result = plan(_desired(), _actual("weather"), PlanPolicy(uninstalled=frozenset({"weather"})))
    assert result.actions == ()
    assert [i.plugin_id for i in result.needs_person] == ["weather"]


def test_unrecoverable_id_is_not_retried_without_force() -> None:
    policy = PlanPolicy(unrecoverable=frozenset({"github"}))
    result = plan(_desired(github=True), _actual(), policy)
    assert result.actions == ()
    assert "force" in result.needs_person[0].detail


def test_force_retries_unrecoverable_but_never_uninstalled() -> None:
    policy = PlanPolicy(
        unrecoverable=frozenset({"github", "weather"}),
        uninstalled=frozenset({"weather"}),
        force=True,
    )
    result = plan(_desired(github=True, weather=True), _actual(), policy)
    assert result.actions == (Action(ActionKind.INSTALL, "github"),)


def test_broken_manifest_needs_a_person_and_is_not_missing() -> None:
    actual = _actual("weather", broken={"weather": "invalid_manifest: no id"})
    result = plan(_desired(weather=True), actual, PlanPolicy())
    assert result.actions == ()
    assert [(i.plugin_id, i.kind) for i in result.needs_person] == [
        ("weather", IssueKind.BROKEN_MANIFEST)
    ]


def test_invalid_config_key_needs_a_person_and_is_never_installed() -> None:
    result = plan(DesiredState({"../etc": True}), _actual(), PlanPolicy())
    assert result.actions == ()
    assert result.needs_person[0].kind is IssueKind.INVALID_ID


def test_alias_in_config_is_satisfied_by_the_installed_plugin() -> None:
    actual = _actual("ledmatrix-weather", aliases={"weather": "ledmatrix-weather"})
    result = plan(_desired(weather=True), actual, PlanPolicy())
    assert result == ReconcilePlan()


def test_enabled_plugin_not_loaded_by_runtime_is_reported() -> None:
    actual = _actual("clock", "news", loaded=frozenset({"clock"}))
    result = plan(_desired(clock=True, news=True), actual, PlanPolicy())
    assert [(i.plugin_id, i.kind) for i in result.needs_person] == [("news", IssueKind.NOT_LOADED)]


def test_disabled_plugin_not_loaded_is_fine_and_enabled_never_changed() -> None:
    """Upstream 35c540d0 (#353): config wins for ``enabled``; the planner never flips it."""
    actual = _actual("clock", loaded=frozenset())
    result = plan(_desired(clock=False), actual, PlanPolicy())
    assert result == ReconcilePlan()


# --- properties -------------------------------------------------------------------------------

_ids = st.sampled_from(["a", "b", "c", "d", "e", "f"])
_id_sets = st.frozensets(_ids, max_size=6)


def _apply(desired: DesiredState, actual: ActualState, result: ReconcilePlan):  # type: ignore[no-untyped-def]
    blocks = dict(desired.blocks)
    installed = set(actual.installed)
    for action in result.actions:
        if action.kind is ActionKind.INSTALL:
            installed.add(action.plugin_id)
        elif action.kind is ActionKind.ADD_CONFIG_BLOCK:
            blocks.setdefault(action.plugin_id, action.enabled)
    return DesiredState(blocks), ActualState(installed=frozenset(installed), builtin=actual.builtin)


@settings(max_examples=300, deadline=None)
@given(
    config=st.dictionaries(_ids, st.booleans(), max_size=6),
    installed=_id_sets,
    builtin=_id_sets,
    uninstalled=_id_sets,
    tombstoned=_id_sets,
    unrecoverable=_id_sets,
    force=st.booleans(),
)
def test_plan_never_resurrects_and_is_idempotent(
    config: dict[str, bool],
    installed: frozenset[str],
    builtin: frozenset[str],
    uninstalled: frozenset[str],
    tombstoned: frozenset[str],
    unrecoverable: frozenset[str],
    force: bool,
) -> None:
    desired = DesiredState(config)
    actual = ActualState(installed=installed, builtin=builtin)
    policy = PlanPolicy(uninstalled, tombstoned, unrecoverable, force)
    result = plan(desired, actual, policy)

    removed = uninstalled | tombstoned
    installs = {a.plugin_id for a in result.actions if a.kind is ActionKind.INSTALL}
    blocks = {a.plugin_id for a in result.actions if a.kind is ActionKind.ADD_CONFIG_BLOCK}
    assert not installs & removed
    assert not blocks & removed
    assert not installs & (installed | builtin)
    if not force:
        assert not installs & unrecoverable
    assert len({a.plugin_id for a in result.actions}) == len(result.actions)

    again = plan(*_apply(desired, actual, result), policy)
    assert again.actions == ()


def test_store_installed_folder_without_block_gets_an_enabled_block() -> None:
    """An install killed between the folder swap and the config write: same rule as a
    finished store install (enabled); a hand-placed folder stays disabled."""
    result = plan(
        DesiredState({}),
        ActualState(
            installed=frozenset({"stored", "found"}), store_installed=frozenset({"stored"})
        ),
        PlanPolicy(),
    )
    enabled = {a.plugin_id: a.enabled for a in result.actions}
    assert enabled == {"stored": True, "found": False}
