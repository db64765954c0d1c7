"""What each command does to the store and the display; returns the response data.

Quick commands (``Lane.DISPLAY``/``Lane.QUERY``) run on the front end's workers
through ``run``. Store mutations (``Lane.STORE``) become a ``StoreOp`` for the
store's one operation queue (``store_op``), and ``store_outcome`` turns the
finished operation's result into response data. Failures are typed
``LedMatrixError``s, which the caller turns into error responses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.api import (
    DisplayApi,
    OpResult,
    ReconcileReport,
    StoreApi,
    StoreOp,
    UpdateAllResult,
)
from ledmatrix_mqtt.core.models import InstallResult, UninstallResult
from ledmatrix_mqtt.errors import InvalidPayload, NotFound
from ledmatrix_mqtt.mqtt.codec import Request
from ledmatrix_mqtt.mqtt.command_args import (
    BrightnessArgs,
    ConfigureArgs,
    DismissArgs,
    EnableArgs,
    InstallArgs,
    NotifyArgs,
    PluginArgs,
    PowerArgs,
    ReconcileArgs,
    RotationArgs,
    ScheduleArgs,
    SearchArgs,
    ShowArgs,
    TextArgs,
    UpdateArgs,
)
from ledmatrix_mqtt.mqtt.commands import COMMANDS, Lane
from ledmatrix_mqtt.mqtt.listcache import ListAnswer
from ledmatrix_mqtt.mqtt.selection import StoreSelection
from ledmatrix_mqtt.mqtt.serialize import (
    display_data,
    install_data,
    list_data,
    plugin_data,
    reconcile_data,
    search_data,
    uninstall_data,
    update_all_data,
)
from ledmatrix_mqtt.mqtt.settings_entities import rotation_data, settings_data


@dataclass(frozen=True)
class Outcome:
    """Response data, plus what changed so the caller knows what to republish."""

    data: dict[str, Any]
    plugins_changed: bool = False
    display_changed: bool = False
    reconcile: ReconcileReport | None = None
    encoded: bytes | None = None  # ``data`` already encoded (then ``data`` is unused)
    after: Callable[[], None] | None = None  # run once the response is sent


class CommandHandlers:
    def __init__(
        self,
        store: StoreApi,
        display: DisplayApi,
        selection: StoreSelection | None = None,
        list_answer: ListAnswer | None = None,
    ) -> None:
        """``selection``: the store plugin Home Assistant's store select picked;
        ``list_answer``: the kept ``list`` answer (the publisher's)."""
        self._store = store
        self._display = display
        self.list_answer = list_answer or ListAnswer(
            lambda: list_data(store.list_installed(), display.runtime_status())
        )
        self._selection = selection or StoreSelection()
        quick = [name for name, spec in COMMANDS.items() if spec.lane is not Lane.STORE]
        self._table: dict[str, Callable[[Any], Outcome]] = {
            name: getattr(self, f"_{name}") for name in quick
        }

    def run(self, request: Request) -> Outcome:
        """A quick command (display, list, enable/disable, search)."""
        return self._table[request.command](request.args)

    def store_op(self, request: Request) -> StoreOp:
        """The queued operation a store command stands for."""
        args, tag = request.args, request.transaction
        if request.command == "store_install":  # installs (and clears) the selection
            plugin_id = self._selection.get()
            if not plugin_id:
                raise InvalidPayload("no store plugin selected; send store_select first")
            self._selection.set("")
            return StoreOp("install", plugin_id, tag=tag)
        if isinstance(args, InstallArgs):
            return StoreOp(
                "install", args.plugin_id, args.url, args.branch, args.plugin_path, tag=tag
            )
        if isinstance(args, UpdateArgs):
            if args.all:
                return StoreOp("update_all", tag=tag)
            return StoreOp("update", args.plugin_id, tag=tag)
        if isinstance(args, ReconcileArgs):
            return StoreOp("reconcile", force=args.force, dry_run=args.dry_run, tag=tag)
        assert isinstance(args, PluginArgs)
        return StoreOp("uninstall", args.plugin_id, tag=tag)

    @staticmethod
    def store_outcome(result: OpResult) -> Outcome:
        """Response data for a finished store operation."""
        if isinstance(result, InstallResult):
            return Outcome(install_data(result), plugins_changed=True)
        if isinstance(result, UninstallResult):
            return Outcome(uninstall_data(result), plugins_changed=True)
        if isinstance(result, UpdateAllResult):
            return Outcome(update_all_data(result), plugins_changed=True)
        changed = not result.dry_run
        return Outcome(reconcile_data(result), plugins_changed=changed, reconcile=result)

    def _list(self, args: object) -> Outcome:
        """The kept answer, or a fresh one (which is then kept)."""
        data, _ = self.list_answer.cached()
        return Outcome({}, encoded=data if data is not None else self.list_answer.refresh())

    def _search(self, args: SearchArgs) -> Outcome:
        # A refresh may change latest versions: the store republishes in the background
        # (its hooks), so the answer does not wait for the state and discovery republish.
        # The GitHub lookups start once the answer is sent: their threads would otherwise
        # compete with building it.
        result = self._store.search(args)
        return Outcome(search_data(result), after=lambda: self._store.enrich(result))

    def _enable(self, args: EnableArgs) -> Outcome:
        plugin = self._store.set_enabled(args.plugin_id, args.enabled)
        status = {s.plugin_id: s for s in self._display.runtime_status()}.get(plugin.id)
        return Outcome(plugin_data(plugin, status), plugins_changed=True)

    _disable = _enable

    def _display_outcome(self) -> Outcome:
        return Outcome(display_data(self._display.state(), self._display.text()), False, True)

    def _show(self, args: ShowArgs) -> Outcome:
        self._display.show(args.plugin_id, args.duration)
        return self._display_outcome()

    def _next(self, args: object) -> Outcome:
        self._display.next()
        return self._display_outcome()

    def _brightness(self, args: BrightnessArgs) -> Outcome:
        self._display.set_brightness(args.value)
        return self._display_outcome()

    def _power(self, args: PowerArgs) -> Outcome:
        self._display.set_power(args.on)
        return self._display_outcome()

    def _text(self, args: TextArgs) -> Outcome:
        self._display.set_text(args.text)
        return self._display_outcome()

    def _configure(self, args: ConfigureArgs) -> Outcome:
        settings = self._store.configure(args.plugin_id, args.settings)
        return Outcome(settings_data(settings), plugins_changed=True)

    def _rotation(self, args: RotationArgs) -> Outcome:
        self._store.set_rotation_order(args.order)
        data = rotation_data(self._display.rotation())
        return Outcome(data, plugins_changed=True, display_changed=True)

    # -- notifications and schedules ----------------------------------------------

    def _notify(self, args: NotifyArgs) -> Outcome:
        state = self._display.notify(args.notification)
        return Outcome({"id": args.notification.id, **state.to_dict()}, display_changed=True)

    def _dismiss(self, args: DismissArgs) -> Outcome:
        return Outcome(self._display.dismiss(args.notification_id).to_dict(), display_changed=True)

    def _schedule(self, args: ScheduleArgs) -> Outcome:
        """Saved to the config file first (validated there), then applied live."""
        schedule, dim_schedule = self._store.set_schedules(args.schedule, args.dim_schedule)
        state = self._display.set_schedule(schedule=schedule, dim_schedule=dim_schedule)
        return Outcome(state.to_dict(), display_changed=True)

    def _store_select(self, args: PluginArgs) -> Outcome:
        """Remember a store plugin that is not installed (none clears); on ``state/store``."""
        summary = self._store.cached_registry_summary()
        offered = {e.entry.id for e in summary.entries if not e.installed} if summary else set()
        if args.plugin_id and args.plugin_id not in offered:
            raise NotFound(f"{args.plugin_id!r} is not a store plugin that can be installed")
        self._selection.set(args.plugin_id)
        return Outcome({"selected": args.plugin_id}, plugins_changed=True)
