"""The two interfaces the front ends (MQTT, CLI) drive: the plugin store and the display.

The MQTT front end and the offline CLI depend only on these protocols; the
composition root (``app.py``) wires in ``store.service.PluginStore`` and
``runtime.controller.DisplayController``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ledmatrix_mqtt.core.ids import MaybePluginId, PluginId
from ledmatrix_mqtt.core.models import (
    InstalledPlugin,
    InstallResult,
    Progress,
    StoreEntry,
    UninstallResult,
)
from ledmatrix_mqtt.core.notifications import Notification, NotificationState
from ledmatrix_mqtt.core.plugin_settings import PluginSettings
from ledmatrix_mqtt.core.schedule import ScheduleState
from ledmatrix_mqtt.errors import LedMatrixError

ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class SearchQuery:
    """A store search: the filters, and whether to fetch the registry again first."""

    query: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    refresh: bool = False


EVERY_PLUGIN = SearchQuery()  # no filters, the cached registry


@dataclass(frozen=True)
class SearchResult:
    """Store search answer. ``complete`` is False if some entries missed the deadline."""

    entries: tuple[StoreEntry, ...]
    fetched_at: float
    stale: bool
    complete: bool = True


@dataclass(frozen=True)
class ReconcileItem:
    plugin_id: str
    kind: str  # e.g. "missing_on_disk", "missing_in_config"
    action: str  # e.g. "install", "add_config_block", "none"
    detail: str = ""
    error_code: str = ""


@dataclass(frozen=True)
class ReconcileReport:
    """What a reconcile pass found, fixed, and left for a person."""

    dry_run: bool
    inconsistencies: tuple[ReconcileItem, ...] = ()
    fixed: tuple[ReconcileItem, ...] = ()
    needs_attention: tuple[ReconcileItem, ...] = ()
    finished_at: float = 0.0

    @property
    def successful(self) -> bool:
        return not self.needs_attention


@dataclass(frozen=True)
class UpdateAllResult:
    results: tuple[InstallResult, ...] = ()
    errors: tuple[tuple[str, LedMatrixError], ...] = field(default_factory=tuple)
    stale: bool = False  # the registry was unreachable: compared with the cached copy


OpKind = Literal["install", "uninstall", "update", "update_all", "reconcile"]


@dataclass(frozen=True)
class StoreOp:
    """One store mutation for the store's operation queue.

    ``install``: ``plugin_id`` from the registry, or ``url`` (+ ``branch``,
    ``plugin_path``); ``uninstall``/``update``: ``plugin_id``; ``update_all``: no
    fields; ``reconcile``: ``force``, ``dry_run``. ``target`` is what the queue's
    duplicate rule compares (with ``kind``). ``tag`` is the caller's opaque label
    (MQTT: the request's transaction), carried on every snapshot of the operation.
    The id was checked where it came in (``validate_plugin_id``); the URL is checked
    once, when the op is submitted.
    """

    kind: OpKind
    plugin_id: MaybePluginId = ""
    url: str = ""
    branch: str = ""
    plugin_path: str = ""
    force: bool = False
    dry_run: bool = False
    tag: str = ""

    @property
    def target(self) -> str:
        return self.url or self.plugin_id


# What a StoreOp's future holds, by kind: InstallResult (install, update),
# UninstallResult, UpdateAllResult, ReconcileReport.
OpResult = InstallResult | UninstallResult | UpdateAllResult | ReconcileReport


@dataclass(frozen=True)
class OperationSnapshot:
    """The state of one queued, running or finished store operation.

    ``plugin_id`` is the plugin the operation is working on now (for ``update_all``
    the one being updated); ``status`` is ``queued``, ``running``, ``done`` or ``failed``.
    """

    id: int
    kind: str
    plugin_id: str
    status: str
    stage: str = "queued"
    percent: int = 0
    message: str = ""
    error_code: str = ""
    queued_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    queue_depth: int = 0
    tag: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")


OperationListener = Callable[[OperationSnapshot], None]


class StoreApi(Protocol):
    """Plugin store operations for the front ends.

    Reads answer at once. Mutations go through ``submit``, which never blocks: it
    queues the operation on the store's one serial queue and returns its future,
    or raises ``Busy`` at once when the same kind of operation on the same target
    is already queued or running, or the queue is full. ``set_enabled`` is not
    queued: it answers at once even while an install runs. Errors are typed
    ``LedMatrixError``s (in the future, for queued work).
    """

    def list_installed(self) -> Sequence[InstalledPlugin]: ...

    def search(self, request: SearchQuery = EVERY_PLUGIN) -> SearchResult:
        """Matching registry entries. Where the store republishes enrichment (the
        service), it answers from the registry and the cache without waiting for GitHub;
        ``enrich`` then starts the lookups the answer lacks."""
        ...

    def enrich(self, result: SearchResult) -> None:
        """Start, in the background, the GitHub lookups ``result``'s entries lack; never
        waits. The store's hooks hear when they have landed (``cached_registry_summary``)."""
        ...

    def cached_registry_summary(self) -> SearchResult | None:
        """The last registry fetch, without any network (for retained state)."""
        ...

    def submit(self, op: StoreOp, *, progress: ProgressFn | None = None) -> Future[OpResult]:
        """Queue ``op``; raises ``Busy`` at once for a duplicate or a full queue."""
        ...

    def add_operation_listener(self, callback: OperationListener) -> None:
        """``callback(snapshot)`` on every queued/stage/finished change of any operation,
        in order, on the queue's thread (the one progress source for every front end)."""
        ...

    def set_enabled(self, plugin_id: str, enabled: bool) -> InstalledPlugin: ...

    # plugin settings and rotation order
    def settings_of(self, plugins: Sequence[InstalledPlugin]) -> dict[str, PluginSettings]:
        """Each plugin's effective settings (secrets masked) and the simple settings HA can
        edit, from one read of the files; a plugin without a readable schema is left out."""
        ...

    def configure(self, plugin_id: str, changes: Mapping[str, Any]) -> PluginSettings:
        """Merge-patch ``plugins.<id>`` (null removes a key), validated, written, reloaded."""
        ...

    def set_rotation_order(self, order: Sequence[PluginId]) -> tuple[str, ...]:
        """``display.rotation_order``: these installed plugins first, the rest by id."""
        ...

    def set_schedules(
        self, schedule: Mapping[str, Any] | None, dim_schedule: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Merge-patch the config file's ``schedule``/``dim_schedule`` blocks (validated,
        ``ConfigError`` naming the key, nothing written); returns both as written."""
        ...


@dataclass(frozen=True)
class PluginRuntimeStatus:
    """``loading``: a load is in flight (neither loaded nor failed yet, nor overdue)."""

    plugin_id: str
    loaded: bool
    healthy: bool
    error: str = ""
    loading: bool = False


@dataclass(frozen=True)
class DisplayState:
    power: bool
    brightness: int
    current_plugin: str
    current_mode: str
    since: float
    pinned_until: float | None = None  # set while "show" holds a plugin
    backend: str = ""


class DisplayApi(Protocol):
    """Display control. All methods return quickly and are thread-safe."""

    def state(self) -> DisplayState: ...

    def show(self, plugin_id: str, duration: float | None = None) -> DisplayState: ...

    def resume(self) -> DisplayState: ...

    def next(self) -> DisplayState: ...

    def set_brightness(self, value: int) -> DisplayState: ...

    def set_power(self, on: bool) -> DisplayState: ...

    def set_text(self, text: str) -> None: ...

    def text(self) -> str: ...

    def frame_png(self) -> bytes:
        """The current panel frame as PNG bytes."""
        ...

    def runtime_status(self) -> Sequence[PluginRuntimeStatus]: ...

    def rotation(self) -> Sequence[str]:
        """Plugin ids currently in the rotation (for the HA select entity)."""
        ...

    # notifications and schedules
    def notify(self, notification: Notification) -> NotificationState:
        """Show now (priority above the one showing) or queue; ``Busy`` when full."""
        ...

    def dismiss(self, notification_id: str | None = None) -> NotificationState:
        """One notification (``NotFound`` if unknown), or all with None."""
        ...

    def notifications(self) -> NotificationState: ...

    def schedule_state(self) -> ScheduleState: ...

    def set_schedule(
        self,
        schedule: Mapping[str, Any] | None = None,
        dim_schedule: Mapping[str, Any] | None = None,
    ) -> ScheduleState:
        """Apply whole LEDMatrix-shaped blocks live (None keeps one); not saved."""
        ...

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """``callback("state")`` on display state changes, ``callback("frame")`` on new
        frames, ``callback("plugins")`` when a plugin's loaded/healthy/error changes."""
        ...
