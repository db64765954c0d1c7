"""Keeps the broker's retained state and discovery in step with the store and display.

Builds messages with the pure builders and publishes them through a
``publish`` callable. It remembers what it last published per topic, so an
ordinary refresh sends only what changed, while ``force`` (every connect, HA
birth, a lost retained store) sends everything again. Plugins that disappear
get their discovery removed first and their state topic cleared after, so Home
Assistant never renders a template against an emptied state.

Discovery goes out in the layout ``ha_layout`` plans from a ledger of what was
published before, kept in ``ledger_path`` (when given) across restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledmatrix_mqtt.api import (
    DisplayApi,
    PluginRuntimeStatus,
    ReconcileReport,
    SearchResult,
    StoreApi,
)
from ledmatrix_mqtt.core.models import InstalledPlugin
from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json
from ledmatrix_mqtt.mqtt import discovery, ha_layout, settings_entities, state
from ledmatrix_mqtt.mqtt.discovery import DeviceInfo
from ledmatrix_mqtt.mqtt.ha_layout import Ledger
from ledmatrix_mqtt.mqtt.listcache import ListAnswer
from ledmatrix_mqtt.mqtt.messages import Message
from ledmatrix_mqtt.mqtt.selection import StoreSelection
from ledmatrix_mqtt.mqtt.serialize import list_data
from ledmatrix_mqtt.mqtt.state import OperationState
from ledmatrix_mqtt.mqtt.topics import Topics

_LOG = logging.getLogger(__name__)

Publish = Callable[[Message], bool]
# How long loads in flight may hold back discovery after a (re)connect's first publish.
# 50 plugins' loads (released at ``online``) settle 0.2-0.4 s after it unthrottled, about
# 3.5 times that under the benchmark's Pi quota: inside the window, so a restart still sends
# each topic once. A load that hangs delays Home Assistant by this, not by its load deadline.
LOAD_HOLD_S = 3.0


class StatePublisher:
    """Thread-safe; every method may block on a store read."""

    def __init__(
        self,
        topics: Topics,
        info: DeviceInfo,
        store: StoreApi,
        display: DisplayApi,
        publish: Publish,
        *,
        discovery_enabled: bool,
        discovery_mode: str = "device",
        ledger_path: Path | None = None,
        hold_window: float = LOAD_HOLD_S,
        wake: Callable[[float], object] = lambda _delay: None,
    ) -> None:
        """``wake(delay)``: have ``end_hold`` called ``delay`` seconds from now (a
        pending call may be kept: ``end_hold`` asks again while the window lasts)."""
        self._topics = topics
        self._info = info
        self._store = store
        self._display = display
        self._publish = publish
        self._discovery = discovery_enabled
        self._mode = discovery_mode
        self._ledger_path = ledger_path
        self._ledger = Ledger.from_data(read_json(ledger_path)) if ledger_path else None
        # Per-entity configs of an earlier run may be on the broker (see stale_removal).
        self._per_entity = (
            discovery_mode == "entity" or self._ledger is None or (self._ledger.mode == "entity")
        )
        self.selection = StoreSelection()  # shared with the store_select/store_install handlers
        # the ``list`` answer: rebuilt with every plugins publish, served by the command runner
        self.list_answer = ListAnswer(self._list_data)
        self._last_failed: OperationState | None = None
        self._lock = threading.RLock()
        self._sent: dict[str, bytes] = {}
        self._settled = False  # a complete plugins publish went out since the last forget()
        self._hold_window = hold_window
        self._wake = wake
        self._hold_until: float | None = None  # set by the first publish after forget()
        self._known_plugins: set[str] | None = None
        self._operation = OperationState()
        self._reconcile: ReconcileReport | None = None

    @property
    def operation(self) -> OperationState:
        return self._operation

    def known_plugins(self) -> frozenset[str] | None:
        """The installed plugins last published (None before the first publish)."""
        with self._lock:
            return None if self._known_plugins is None else frozenset(self._known_plugins)

    def forget(self) -> None:
        """After a (re)connect nothing we sent can be assumed to be on the broker."""
        with self._lock:
            self._sent.clear()
            self._settled = False
            self._hold_until = None

    def _send(self, messages: list[Message], force: bool) -> bool:
        """Publish what changed (everything with ``force``); True if all of it was accepted."""
        ok = True
        for msg in messages:
            if not force and self._sent.get(msg.topic) == msg.payload:
                continue
            if self._publish(msg):
                if msg.retain:
                    self._sent[msg.topic] = msg.payload
            else:
                ok = False
        return ok

    def publish_all(self, *, availability: bool = True) -> None:
        """Every state topic and every discovery config; availability too unless the
        caller has just published it."""
        with self._lock:
            if availability:
                self._send([state.availability(self._topics, True)], True)
            self.publish_plugins(force=True)
            self._send([state.reconcile_message(self._topics, self._reconcile)], True)
            self._send([self._operation_message()], True)
            self.publish_display(force=True)

    def publish_plugins(self, *, force: bool = False) -> None:
        """Discovery first, then state/plugins, per-plugin topics and the store summary.

        A plugin that is gone loses its entities before its state topic is
        cleared: in the other order HA renders the entity's template against an
        empty payload and logs an error. Until the first complete publish after a
        (re)connect, loads in flight hold back what they would change a moment
        later (their plugins' state, the list, the rotation and discovery); the
        broker keeps its retained copies meanwhile, and each topic goes out once
        its plugins have settled, so a restart publishes every topic once. The
        hold lasts at most ``hold_window`` from that first publish: then every
        topic goes out, a plugin still loading as ``loading``, and its topics
        again (what changed) once it settles.
        """
        with self._lock:
            generation = self.list_answer.generation
            installed = list(self._store.list_installed())
            runtime = list(self._display.runtime_status())
            self.list_answer.offer(generation, list_data(installed, runtime))
            loading = self._holding(runtime)
            summary = self._store.cached_registry_summary()
            ids: set[str] = {p.id for p in installed}
            removed = (self._known_plugins or set()) - ids
            settings_state, settings = self._settings(installed)
            found, ledger = self._discovery_messages(installed, summary, settings)
            out = found + state.plugins_messages(self._topics, installed, runtime, self._operation)
            out += settings_state
            out.append(state.store_message(self._topics, summary, self.selection.get()))
            for plugin_id in sorted(removed):
                out += self._removal(plugin_id)
            self._known_plugins = ids
            if loading:  # what no load in flight changes goes out now, the rest once settled
                held = {m.topic for m in found} | self._load_dependent(loading)
                self._send([m for m in out if m.topic not in held], force)
            elif self._send(out, force):
                self._settled = True
                self._remember(ledger)

    def end_hold(self) -> None:
        """The hold window is over: publish what loads in flight still hold back."""
        with self._lock:
            if not self._settled:
                self.publish_plugins()

    def _holding(self, runtime: list[PluginRuntimeStatus]) -> set[str]:
        """The plugins whose loads hold their topics back now (see ``publish_plugins``)."""
        if self._settled:
            return set()
        now = time.monotonic()
        if self._hold_until is None:
            self._hold_until = now + self._hold_window
        loading = {s.plugin_id for s in runtime if s.loading}
        if not loading:
            return loading
        if now < self._hold_until:
            self._wake(self._hold_until - now)
            return loading
        _LOG.info("publishing while plugins still load: %s", ", ".join(sorted(loading)))
        return set()

    def _load_dependent(self, loading: set[str]) -> set[str]:
        """The state topics that change as the ``loading`` plugins settle."""
        fixed = {self._topics.state_plugins, self._topics.state_rotation}
        return fixed | {self._topics.state_plugin(p) for p in loading}

    def _list_data(self) -> bytes:
        return list_data(self._store.list_installed(), self._display.runtime_status())

    def _settings(
        self, installed: list[InstalledPlugin]
    ) -> tuple[list[Message], list[settings_entities.SettingEntity]]:
        """Each plugin's retained settings and rotation order, and their HA entities."""
        rotation = self._display.rotation()
        messages = [settings_entities.rotation_state_message(self._topics, rotation)]
        entities = [settings_entities.rotation_entity(self._topics)]
        every = self._store.settings_of(installed)  # no readable schema: its state says why
        for plugin in installed:
            current = every.get(plugin.id)
            if current is None:
                continue
            messages.append(settings_entities.settings_state_message(self._topics, current))
            entities += settings_entities.setting_entities(
                self._topics, plugin.id, plugin.name, current
            )
        return messages, entities

    def _discovery_messages(
        self,
        installed: list[InstalledPlugin],
        summary: SearchResult | None,
        settings: list[settings_entities.SettingEntity],
    ) -> tuple[list[Message], Ledger | None]:
        """What moves discovery to today's entities, and the ledger once it went out."""
        if not self._discovery:  # turned off: what an earlier run announced is removed
            return (ha_layout.retire(self._ledger) if self._ledger else []), None
        show = list(self._display.rotation()) or sorted(p.id for p in installed)
        offered = sorted(e.entry.id for e in summary.entries if not e.installed) if summary else []
        comps = discovery.device_components(
            self._topics, self._info, installed, show, offered, settings
        )
        return ha_layout.plan(self._topics, self._info, self._mode, comps, self._ledger)

    def _remember(self, ledger: Ledger | None) -> None:
        """Keep the ledger (and write it when it changed) once its messages went out."""
        if ledger == self._ledger:
            return
        self._ledger = ledger
        if self._ledger_path is None:
            return
        try:
            if ledger is None:
                self._ledger_path.unlink(missing_ok=True)
            else:
                self._ledger_path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_json(self._ledger_path, ledger.to_data())
        except (OSError, StorageFailed) as exc:  # the next start migrates once more: harmless
            _LOG.warning("could not record the published discovery: %s", exc)

    def _removal(self, plugin_id: str) -> list[Message]:
        out = state.removed_plugin_messages(self._topics, plugin_id)
        out.append(settings_entities.removed_settings_state(self._topics, plugin_id))
        for msg in out:
            self._sent.pop(msg.topic, None)
        return out

    def clear_stale_plugin(self, plugin_id: str) -> bool:
        """A retained ``state/plugins/<id>`` we do not know (left by an earlier run): clear it."""
        with self._lock:
            if self._known_plugins is None or plugin_id in self._known_plugins:
                return False
            _LOG.info("clearing retained state of plugin %s, which is not installed", plugin_id)
            stale = {discovery.plugin_object(plugin_id, s): p for p, s in discovery.PLUGIN_SUFFIXES}
            out = ha_layout.stale_removal(self._topics, self._per_entity, stale)
            out = out if self._discovery else []
            self._send(out + self._removal(plugin_id), True)
            return True

    def publish_display(self, *, force: bool = False) -> None:
        """``state/display``, ``state/notifications`` and ``state/schedule`` (what changed)."""
        with self._lock:
            msg = state.display_message(self._topics, self._display.state(), self._display.text())
            notes = self._display.notifications().to_dict()
            hours = self._display.schedule_state().to_dict()
            self._send(
                [
                    msg,
                    state.notifications_message(self._topics, notes),
                    state.schedule_message(self._topics, hours),
                ],
                force,
            )

    def set_operation(self, op: OperationState, *, plugin_too: bool) -> None:
        """Publish ``state/operation``; with ``plugin_too`` also the plugin's update entity."""
        with self._lock:
            self._operation = op
            if op.status == "failed":
                self._last_failed = op
            self._send([self._operation_message()], False)
            if plugin_too and op.plugin_id:
                self._publish_one_plugin(op.plugin_id)

    def record_refused(self, op: OperationState) -> None:
        """A store command refused before it was queued (nothing selected, busy, a bad
        argument): shown as the last error only; the current operation is unchanged."""
        with self._lock:
            self._last_failed = op
            self._send([self._operation_message()], False)

    def _publish_one_plugin(self, plugin_id: str) -> None:
        for plugin in self._store.list_installed():
            if plugin.id == plugin_id:
                status = {s.plugin_id: s for s in self._display.runtime_status()}.get(plugin_id)
                msg = state.plugin_message(self._topics, plugin, status, self._operation)
                self._send([msg], False)

    def _operation_message(self) -> Message:
        return state.operation_message(self._topics, self._operation, self._last_failed)

    def set_reconcile(self, report: ReconcileReport) -> None:
        with self._lock:
            self._reconcile = report
            self._send([state.reconcile_message(self._topics, report)], False)

    def offline(self) -> Message:
        return state.availability(self._topics, False)
