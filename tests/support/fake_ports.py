"""In-memory implementations of the StoreApi/DisplayApi ports, for front-end tests.

They are fakes at the port: deterministic, thread-safe, with knobs to inject
errors (``fail_next``), slow installs (``install_gate``) and to count calls.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from PIL import Image

from ledmatrix_mqtt.api import (
    EVERY_PLUGIN,
    DisplayState,
    OperationListener,
    OpResult,
    PluginRuntimeStatus,
    ProgressFn,
    ReconcileItem,
    ReconcileReport,
    SearchQuery,
    SearchResult,
    StoreOp,
    UpdateAllResult,
)
from ledmatrix_mqtt.core import notifications as notes
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    PluginSource,
    Progress,
    RegistryEntry,
    Stage,
    StoreEntry,
    UninstallResult,
)
from ledmatrix_mqtt.core.notifications import Notification, NotificationState
from ledmatrix_mqtt.core.plugin_settings import PluginSettings, apply_changes, merge_patch
from ledmatrix_mqtt.core.schedule import ScheduleState, parse_dim_schedule, parse_schedule
from ledmatrix_mqtt.core.simple_settings import simple_settings
from ledmatrix_mqtt.errors import (
    Forbidden,
    LedMatrixError,
    NotFound,
    NotInstalled,
)
from ledmatrix_mqtt.runtime.schedule_driver import ScheduleDriver
from ledmatrix_mqtt.store.operations import OperationQueue


def registry_entries(n: int) -> list[RegistryEntry]:
    return [
        RegistryEntry(id=f"plugin-{i:03d}", name=f"Plugin {i}", latest_version="1.1.0")
        for i in range(n)
    ]


class FakeStore:
    """A StoreApi over a dict. Registry: ``clock-simple`` 1.2.0, ``weather`` 2.0.0, + extras."""

    def __init__(self, extra: Sequence[RegistryEntry] = ()) -> None:
        self.registry = {
            e.id: e
            for e in (
                RegistryEntry(id="clock-simple", name="Simple Clock", latest_version="1.2.0"),
                RegistryEntry(id="weather", name="Weather", latest_version="2.0.0"),
                *extra,
            )
        }
        self.installed: dict[str, InstalledPlugin] = {}
        self.calls: list[str] = []
        self.fail_next: dict[str, BaseException] = {}
        self.install_gate: threading.Event | None = None
        self.settings: dict[str, dict[str, Any]] = {}
        self.rotation_order: tuple[str, ...] = ()
        self.schedules: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self._lock = threading.RLock()
        self.operations = OperationQueue()  # the real queue: its busy rules and snapshots

    def submit(self, op: StoreOp, *, progress: ProgressFn | None = None) -> Future[OpResult]:
        work: Callable[[ProgressFn], OpResult]
        if op.kind == "install" and op.url:
            work = lambda r: self.install_from_url(op.url, progress=r)  # noqa: E731
        elif op.kind == "install":
            work = lambda r: self.install(op.plugin_id, progress=r)  # noqa: E731
        elif op.kind == "uninstall":
            work = lambda r: self.uninstall(op.plugin_id, progress=r)  # noqa: E731
        elif op.kind == "update":
            work = lambda r: self.update(op.plugin_id, progress=r)  # noqa: E731
        elif op.kind == "update_all":
            work = lambda r: self.update_all(progress=r)  # noqa: E731
        else:
            work = lambda r: self.reconcile(force=op.force, dry_run=op.dry_run)  # noqa: E731
        return self.operations.submit(op.kind, op.target, work, progress=progress, tag=op.tag)

    def add_operation_listener(self, callback: OperationListener) -> None:
        self.operations.add_listener(callback)

    def add_installed(self, plugin_id: str, version: str = "1.0.0", enabled: bool = True) -> None:
        entry = self.registry.get(plugin_id)
        latest = entry.latest_version if entry else version
        self.installed[plugin_id] = InstalledPlugin(
            id=plugin_id,
            name=entry.name if entry else plugin_id,
            version=version,
            path=f"/plugins/{plugin_id}",
            source=PluginSource.REGISTRY,
            enabled=enabled,
            latest_version=latest,
            update_available=latest != version,
        )

    def _maybe_fail(self, op: str) -> None:
        self.calls.append(op)
        exc = self.fail_next.pop(op, None)
        if exc is not None:
            raise exc

    def list_installed(self) -> Sequence[InstalledPlugin]:
        with self._lock:
            self._maybe_fail("list")
            return list(self.installed.values())

    def _entries(self) -> tuple[StoreEntry, ...]:
        return tuple(
            StoreEntry(
                entry=e,
                installed=e.id in self.installed,
                installed_version=self.installed[e.id].version if e.id in self.installed else "",
            )
            for e in self.registry.values()
        )

    def search(self, request: SearchQuery = EVERY_PLUGIN) -> SearchResult:
        self._maybe_fail("search")
        entries = tuple(e for e in self._entries() if request.query.lower() in e.entry.id)
        return SearchResult(entries=entries, fetched_at=1000.0, stale=False)

    def enrich(self, result: SearchResult) -> None:
        self._maybe_fail("enrich")

    def cached_registry_summary(self) -> SearchResult | None:
        return SearchResult(entries=self._entries(), fetched_at=1000.0, stale=False)

    def _progress(self, progress: ProgressFn | None, op: str, plugin_id: str) -> None:
        for stage, pct in ((Stage.DOWNLOADING, 30), (Stage.EXTRACTING, 60), (Stage.ACTIVATING, 90)):
            if progress:
                progress(Progress(op, plugin_id, stage, pct))
            if self.install_gate is not None:
                self.install_gate.wait(10)

    def install(self, plugin_id: str, *, progress: ProgressFn | None = None) -> InstallResult:
        self._maybe_fail("install")
        entry = self.registry.get(plugin_id)
        if entry is None:
            raise NotFound(f"{plugin_id} is not in the registry")
        self._progress(progress, "install", plugin_id)
        with self._lock:
            self.add_installed(plugin_id, entry.latest_version)
        return InstallResult(plugin_id, "installed", entry.latest_version)

    def install_from_url(
        self,
        url: str,
        *,
        branch: str = "",
        plugin_path: str = "",
        progress: ProgressFn | None = None,
    ) -> InstallResult:
        self._maybe_fail("install_from_url")
        raise Forbidden("fake store: install from URL is not available")

    def uninstall(self, plugin_id: str, *, progress: ProgressFn | None = None) -> UninstallResult:
        self._maybe_fail("uninstall")
        with self._lock:
            if plugin_id not in self.installed:
                raise NotInstalled(f"{plugin_id} is not installed")
            del self.installed[plugin_id]
        return UninstallResult(plugin_id, removed_files=True, removed_config=True)

    def update(self, plugin_id: str, *, progress: ProgressFn | None = None) -> InstallResult:
        self._maybe_fail("update")
        with self._lock:
            current = self.installed.get(plugin_id)
            if current is None:
                raise NotInstalled(f"{plugin_id} is not installed")
        self._progress(progress, "update", plugin_id)
        latest = self.registry[plugin_id].latest_version
        with self._lock:
            self.add_installed(plugin_id, latest, current.enabled)
        return InstallResult(plugin_id, "updated", latest, previous_version=current.version)

    def update_all(self, *, progress: ProgressFn | None = None) -> UpdateAllResult:
        self._maybe_fail("update_all")
        results = [
            self.update(p, progress=progress)
            for p in list(self.installed)
            if self.installed[p].update_available
        ]
        return UpdateAllResult(results=tuple(results))

    def reconcile(self, *, force: bool = False, dry_run: bool = False) -> ReconcileReport:
        self._maybe_fail("reconcile")
        item = ReconcileItem("weather", "missing_on_disk", "install")
        return ReconcileReport(
            dry_run=dry_run,
            inconsistencies=(item,),
            fixed=() if dry_run else (item,),
            finished_at=2000.0,
        )

    def set_enabled(self, plugin_id: str, enabled: bool) -> InstalledPlugin:
        self._maybe_fail("set_enabled")
        with self._lock:
            current = self.installed.get(plugin_id)
            if current is None:
                raise NotInstalled(f"{plugin_id} is not installed")
            self.add_installed(plugin_id, current.version, enabled)
            return self.installed[plugin_id]

    # plugin settings and rotation order: a merge-patch over a dict, no schema
    def plugin_settings(self, plugin_id: str) -> PluginSettings:
        with self._lock:
            if plugin_id not in self.installed:
                raise NotInstalled(f"{plugin_id} is not installed")
            values = self.settings.get(plugin_id, {})
            return PluginSettings(plugin_id, values, simple_settings(None))

    def settings_of(self, plugins: Sequence[InstalledPlugin]) -> dict[str, PluginSettings]:
        return {p.id: self.plugin_settings(p.id) for p in plugins if p.id in self.installed}

    def configure(self, plugin_id: str, changes: Mapping[str, Any]) -> PluginSettings:
        self._maybe_fail("configure")
        with self._lock:
            block = self.settings.get(plugin_id, {})
            if plugin_id not in self.installed:
                raise NotInstalled(f"{plugin_id} is not installed")
            self.settings[plugin_id] = apply_changes(None, plugin_id, block, changes)
        return self.plugin_settings(plugin_id)

    def set_rotation_order(self, order: Sequence[str]) -> tuple[str, ...]:
        self._maybe_fail("set_rotation_order")
        with self._lock:
            missing = [p for p in order if p not in self.installed]
            if missing:
                raise NotInstalled(f"{missing[0]} is not installed")
            self.rotation_order = tuple(order)
            return self.rotation_order

    def set_schedules(
        self, schedule: Mapping[str, Any] | None, dim_schedule: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        self._maybe_fail("set_schedules")
        with self._lock:
            new = (
                merge_patch(self.schedules[0], schedule or {}),
                merge_patch(self.schedules[1], dim_schedule or {}),
            )
            parse_schedule(new[0])
            parse_dim_schedule(new[1])
            self.schedules = new
            return new


class FakeDisplay:
    """A DisplayApi that keeps state in memory and renders a solid-colour PNG."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self._store = store
        self._state = DisplayState(
            power=True,
            brightness=80,
            current_plugin="clock-simple",
            current_mode="clock",
            since=100.0,
        )
        self._text = ""
        self._listeners: list[Callable[[str], None]] = []
        self._colour = (0, 0, 0)
        self.fail_next: LedMatrixError | BaseException | None = None
        self._lock = threading.Lock()
        self._board = notes.Board()
        self._schedule = ScheduleDriver(None, None)

    def _change(self, **changes: object) -> DisplayState:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        with self._lock:
            values = {**self._state.__dict__, **changes, "since": time.time()}
            self._state = DisplayState(**values)  # type: ignore[arg-type]
            state = self._state
        for listener in list(self._listeners):
            listener("state")
        return state

    def state(self) -> DisplayState:
        return self._state

    def show(self, plugin_id: str, duration: float | None = None) -> DisplayState:
        if self._store is not None and plugin_id not in self._store.installed:
            raise NotInstalled(f"{plugin_id} is not installed")
        return self._change(
            current_plugin=plugin_id, pinned_until=time.time() + duration if duration else None
        )

    def resume(self) -> DisplayState:
        return self._change(pinned_until=None)

    def next(self) -> DisplayState:
        return self._change(current_plugin="next-" + self._state.current_plugin[:20])

    def set_brightness(self, value: int) -> DisplayState:
        return self._change(brightness=value)

    def set_power(self, on: bool) -> DisplayState:
        return self._change(power=on)

    def set_text(self, text: str) -> None:
        self._text = text
        self._change()

    def text(self) -> str:
        return self._text

    def draw(self, colour: tuple[int, int, int]) -> None:
        """Simulate a new frame on the panel."""
        self._colour = colour
        for listener in list(self._listeners):
            listener("frame")

    def frame_png(self) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (64, 32), self._colour).save(buf, format="PNG")
        return buf.getvalue()

    def runtime_status(self) -> Sequence[PluginRuntimeStatus]:
        ids = list(self._store.installed) if self._store else []
        return [PluginRuntimeStatus(pid, loaded=True, healthy=True) for pid in ids]

    def rotation(self) -> Sequence[str]:
        return sorted(self._store.installed) if self._store else []

    def notify(self, notification: Notification) -> NotificationState:
        """Held until dismissed: the fake has no clock driving the queue."""
        with self._lock:
            self._board = notes.post(self._board, notification, time.monotonic(), _held)
        self._change()
        return self._board.state()

    def dismiss(self, notification_id: str | None = None) -> NotificationState:
        with self._lock:
            self._board = notes.dismiss(self._board, notification_id, time.monotonic(), _held)
        self._change()
        return self._board.state()

    def notifications(self) -> NotificationState:
        return self._board.state()

    def schedule_state(self) -> ScheduleState:
        return self._schedule.state(dt.datetime.now(dt.UTC))

    def set_schedule(
        self,
        schedule: Mapping[str, Any] | None = None,
        dim_schedule: Mapping[str, Any] | None = None,
    ) -> ScheduleState:
        self._schedule.set(schedule, dim_schedule)
        self._change()
        return self.schedule_state()

    def add_listener(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)


def _held(notification: Notification) -> float | None:
    return None
