"""What each command does to the store and the display; returns the response data.

Called on the front end's workers. Store calls block and raise typed
``LedMatrixError``s, which the caller turns into error responses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.api import DisplayApi, ProgressFn, ReconcileReport, StoreApi
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.errors import Forbidden, InvalidPayload, NotFound
from ledmatrix_mqtt.mqtt.codec import (
    BrightnessArgs,
    ConfigureArgs,
    DismissArgs,
    EnableArgs,
    InstallArgs,
    NotifyArgs,
    PluginArgs,
    PowerArgs,
    ReconcileArgs,
    Request,
    RotationArgs,
    ScheduleArgs,
    SearchArgs,
    ShowArgs,
    TextArgs,
    UpdateArgs,
)
from ledmatrix_mqtt.mqtt.selection import StoreSelection
from ledmatrix_mqtt.mqtt.serialize import (
    display_data,
    install_data,
    plugin_data,
    plugins_data,
    reconcile_data,
    search_data,
    uninstall_data,
    update_all_data,
)
from ledmatrix_mqtt.mqtt.settings_entities import rotation_data, settings_data

# Which worker runs a command: store mutations are serialised on one slow
# worker so an install never delays list/next; search may wait on the network.
STORE_COMMANDS = frozenset(
    {
        "install",
        "uninstall",
        "update",
        "reconcile",
        "enable",
        "disable",
        "configure",
        "rotation",
        "store_install",
        "schedule",
    }
)
QUERY_COMMANDS = frozenset({"search"})
LONG_COMMANDS = frozenset({"install", "uninstall", "update", "reconcile", "store_install"})


@dataclass(frozen=True)
class Outcome:
    """Response data, plus what changed so the caller knows what to republish."""

    data: dict[str, Any]
    plugins_changed: bool = False
    display_changed: bool = False
    reconcile: ReconcileReport | None = None


class CommandHandlers:
    def __init__(
        self,
        config: AppConfig,
        store: StoreApi,
        display: DisplayApi,
        selection: StoreSelection | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._display = display
        self._selection = selection or StoreSelection()
        self._table: dict[str, Callable[[Any, ProgressFn], Outcome]] = {
            "install": self._install,
            "uninstall": self._uninstall,
            "update": self._update,
            "list": self._list,
            "search": self._search,
            "reconcile": self._reconcile,
            "enable": self._enable,
            "disable": self._enable,
            "show": self._show,
            "next": self._next,
            "brightness": self._brightness,
            "power": self._power,
            "text": self._text,
            "configure": self._configure,
            "rotation": self._rotation,
            "store_select": self._store_select,
            "store_install": self._store_install,
            "notify": self._notify,
            "dismiss": self._dismiss,
            "schedule": self._schedule,
        }

    def run(self, request: Request, progress: ProgressFn) -> Outcome:
        return self._table[request.command](request.args, progress)

    def _install(self, args: InstallArgs, progress: ProgressFn) -> Outcome:
        if args.url:
            if not self._config.store.allow_install_from_url:
                raise Forbidden("install from URL is disabled (store.allow_install_from_url)")
            result = self._store.install_from_url(
                args.url, branch=args.branch, plugin_path=args.plugin_path, progress=progress
            )
        else:
            result = self._store.install(args.plugin_id, progress=progress)
        return Outcome(install_data(result), plugins_changed=True)

    def _uninstall(self, args: PluginArgs, progress: ProgressFn) -> Outcome:
        result = self._store.uninstall(args.plugin_id, progress=progress)
        return Outcome(uninstall_data(result), plugins_changed=True)

    def _update(self, args: UpdateArgs, progress: ProgressFn) -> Outcome:
        if args.all:
            return Outcome(update_all_data(self._store.update_all(progress=progress)), True)
        return Outcome(install_data(self._store.update(args.plugin_id, progress=progress)), True)

    def _list(self, args: object, progress: ProgressFn) -> Outcome:
        installed = self._store.list_installed()
        return Outcome({"plugins": plugins_data(installed, self._display.runtime_status())})

    def _search(self, args: SearchArgs, progress: ProgressFn) -> Outcome:
        result = self._store.search(
            query=args.query, category=args.category, tags=args.tags, refresh=args.refresh
        )
        # A refresh may change latest versions, so the store summary is republished.
        return Outcome(search_data(result), plugins_changed=args.refresh)

    def _reconcile(self, args: ReconcileArgs, progress: ProgressFn) -> Outcome:
        report = self._store.reconcile(force=args.force, dry_run=args.dry_run)
        return Outcome(reconcile_data(report), plugins_changed=not args.dry_run, reconcile=report)

    def _enable(self, args: EnableArgs, progress: ProgressFn) -> Outcome:
        plugin = self._store.set_enabled(args.plugin_id, args.enabled)
        status = {s.plugin_id: s for s in self._display.runtime_status()}.get(plugin.id)
        return Outcome(plugin_data(plugin, status), plugins_changed=True)

    def _display_outcome(self) -> Outcome:
        return Outcome(display_data(self._display.state(), self._display.text()), False, True)

    def _show(self, args: ShowArgs, progress: ProgressFn) -> Outcome:
        self._display.show(args.plugin_id, args.duration)
        return self._display_outcome()

    def _next(self, args: object, progress: ProgressFn) -> Outcome:
        self._display.next()
        return self._display_outcome()

    def _brightness(self, args: BrightnessArgs, progress: ProgressFn) -> Outcome:
        self._display.set_brightness(args.value)
        return self._display_outcome()

    def _power(self, args: PowerArgs, progress: ProgressFn) -> Outcome:
        self._display.set_power(args.on)
        return self._display_outcome()

    def _text(self, args: TextArgs, progress: ProgressFn) -> Outcome:
        self._display.set_text(args.text)
        return self._display_outcome()

    def _configure(self, args: ConfigureArgs, progress: ProgressFn) -> Outcome:
        settings = self._store.configure(args.plugin_id, args.settings)
        return Outcome(settings_data(settings), plugins_changed=True)

    def _rotation(self, args: RotationArgs, progress: ProgressFn) -> Outcome:
        self._store.set_rotation_order(args.order)
        data = rotation_data(self._display.rotation())
        return Outcome(data, plugins_changed=True, display_changed=True)

    # -- Home Assistant's store select + Install button --------------------------

    def _store_select(self, args: PluginArgs, progress: ProgressFn) -> Outcome:
        """Remember a store plugin that is not installed; it shows on ``state/store``."""
        summary = self._store.cached_registry_summary()
        offered = {e.entry.id for e in summary.entries if not e.installed} if summary else set()
        if args.plugin_id not in offered:
            raise NotFound(f"{args.plugin_id!r} is not a store plugin that can be installed")
        self._selection.set(args.plugin_id)
        return Outcome({"selected": args.plugin_id}, plugins_changed=True)

    def _store_install(self, args: object, progress: ProgressFn) -> Outcome:
        """Install the plugin ``store_select`` picked."""
        plugin_id = self._selection.get()
        if not plugin_id:
            raise InvalidPayload("no store plugin selected; send store_select first")
        result = self._store.install(plugin_id, progress=progress)
        self._selection.set("")
        return Outcome(install_data(result), plugins_changed=True)

    # -- notifications and schedules ----------------------------------------------

    def _notify(self, args: NotifyArgs, progress: ProgressFn) -> Outcome:
        state = self._display.notify(args.notification)
        return Outcome({"id": args.notification.id, **state.to_dict()}, display_changed=True)

    def _dismiss(self, args: DismissArgs, progress: ProgressFn) -> Outcome:
        return Outcome(self._display.dismiss(args.notification_id).to_dict(), display_changed=True)

    def _schedule(self, args: ScheduleArgs, progress: ProgressFn) -> Outcome:
        """Saved to the config file first (validated there), then applied live."""
        schedule, dim_schedule = self._store.set_schedules(args.schedule, args.dim_schedule)
        state = self._display.set_schedule(schedule=schedule, dim_schedule=dim_schedule)
        return Outcome(state.to_dict(), display_changed=True)
