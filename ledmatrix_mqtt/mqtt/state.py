"""Builders of the retained state messages. Pure: values in, ``Message``s out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.api import (
    DisplayState,
    OperationSnapshot,
    PluginRuntimeStatus,
    ReconcileReport,
    SearchResult,
)
from ledmatrix_mqtt.core.models import InstalledPlugin
from ledmatrix_mqtt.mqtt.messages import Message, clear, json_message
from ledmatrix_mqtt.mqtt.serialize import (
    display_data,
    plugin_data,
    reconcile_data,
    release_url,
    store_summary_data,
)
from ledmatrix_mqtt.mqtt.topics import Topics

ONLINE = b"online"
OFFLINE = b"offline"


@dataclass(frozen=True)
class OperationState:
    """The current or last store operation, as published on ``state/operation``.

    A view of the store queue's ``OperationSnapshot`` (the one progress source).
    ``status`` is ``idle`` (nothing ran yet), ``queued``, ``running``, ``done`` or
    ``failed``; ``update_all`` is shown as ``update`` (the command that runs it).
    """

    operation: str = ""
    plugin_id: str = ""
    status: str = "idle"
    stage: str = ""
    percent: int = 0
    message: str = ""
    error_code: str = ""
    started_at: float = 0.0
    finished_at: float | None = None
    transaction: str = ""

    @classmethod
    def of(cls, snap: OperationSnapshot) -> OperationState:
        return cls(
            operation="update" if snap.kind == "update_all" else snap.kind,
            plugin_id=snap.plugin_id if "://" not in snap.plugin_id else "",
            status=snap.status,
            stage=snap.stage,
            percent=snap.percent,
            message=snap.message,
            error_code=snap.error_code,
            started_at=snap.started_at or snap.queued_at,
            finished_at=snap.finished_at or None,
            transaction=snap.tag,
        )

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def summary(self) -> str:
        """One short line for the HA sensor, e.g. ``install clock-simple: downloading 40%``."""
        if self.status == "idle":
            return "idle"
        what = f"{self.operation} {self.plugin_id}".strip()
        if self.running:
            return f"{what}: {self.stage or 'running'} {self.percent}%"
        return f"{what}: {self.status}" + (f" ({self.error_code})" if self.error_code else "")

    def to_data(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "plugin_id": self.plugin_id,
            "status": self.status,
            "stage": self.stage,
            "percent": self.percent,
            "message": self.message,
            "error_code": self.error_code,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "transaction": self.transaction or None,
            "summary": self.summary,
        }


def availability(topics: Topics, online: bool) -> Message:
    return Message(topics.availability, ONLINE if online else OFFLINE, 1, True)


def update_entity_state(plugin: InstalledPlugin, op: OperationState) -> dict[str, Any]:
    """The state of the plugin's HA ``update`` entity: only keys HA's platform accepts.

    HA drops a state message with any other key, a non-string version or a
    ``release_url`` that is not a URL, so ``release_url`` is left out when unknown.
    """
    busy = op.running and op.plugin_id == plugin.id and op.operation in ("install", "update")
    out: dict[str, Any] = {
        "installed_version": plugin.version,
        "latest_version": plugin.latest_version or plugin.version,
        "title": plugin.name or plugin.id,
        "in_progress": busy,
        "update_percentage": op.percent if busy else None,
    }
    if url := release_url(plugin):
        out["release_url"] = url
    return out


def plugin_state(
    plugin: InstalledPlugin, status: PluginRuntimeStatus | None, op: OperationState
) -> dict[str, Any]:
    """One plugin's retained state; ``update_entity`` is what HA's update entity reads."""
    data = plugin_data(plugin, status)
    update = update_entity_state(plugin, op)
    data.update(
        installed_version=plugin.version,
        in_progress=update["in_progress"],
        update_percentage=update["update_percentage"],
        release_url=update.get("release_url", ""),
        title=plugin.name,
        update_entity=update,
    )
    return data


def plugin_message(
    topics: Topics,
    plugin: InstalledPlugin,
    status: PluginRuntimeStatus | None,
    op: OperationState,
) -> Message:
    return json_message(topics.state_plugin(plugin.id), plugin_state(plugin, status, op))


def plugins_messages(
    topics: Topics,
    installed: Sequence[InstalledPlugin],
    runtime: Sequence[PluginRuntimeStatus],
    op: OperationState,
) -> list[Message]:
    """``state/plugins`` (the whole list) then one ``state/plugins/<id>`` per plugin."""
    by_id = {s.plugin_id: s for s in runtime}
    ordered = sorted(installed, key=lambda p: p.id)
    records = [plugin_state(p, by_id.get(p.id), op) for p in ordered]
    out = [json_message(topics.state_plugins, {"count": len(records), "plugins": records})]
    out += [json_message(topics.state_plugin(r["id"]), r) for r in records]
    return out


def removed_plugin_messages(topics: Topics, plugin_id: str) -> list[Message]:
    return [clear(topics.state_plugin(plugin_id))]


def store_message(topics: Topics, summary: SearchResult | None, selected: str = "") -> Message:
    """The registry summary plus the plugin picked in HA's "Store plugin" select."""
    data = store_summary_data(summary)
    data["selected"] = selected
    return json_message(topics.state_store, data)


def reconcile_message(topics: Topics, report: ReconcileReport | None) -> Message:
    if report is None:
        return json_message(topics.state_reconcile, {"result": "unknown"})
    return json_message(topics.state_reconcile, reconcile_data(report))


def last_error_data(failed: OperationState | None) -> dict[str, Any] | None:
    """The last failed operation, for HA's "Last error" sensor (None if none failed)."""
    if failed is None:
        return None
    return {
        "code": failed.error_code or "failed",
        "message": failed.message,
        "operation": failed.operation,
        "plugin_id": failed.plugin_id,
        "finished_at": failed.finished_at,
    }


def operation_message(
    topics: Topics, op: OperationState, last_failed: OperationState | None = None
) -> Message:
    """``state/operation``: the current or last operation and ``last_error``."""
    data = op.to_data()
    data["last_error"] = last_error_data(last_failed)
    return json_message(topics.state_operation, data)


def display_message(topics: Topics, state: DisplayState, text: str) -> Message:
    return json_message(topics.state_display, display_data(state, text))


def notifications_message(topics: Topics, data: dict[str, Any]) -> Message:
    """``state/notifications``: ``current`` (None when idle), ``queue_length``, ``queued``."""
    return json_message(topics.state_notifications, data)


def schedule_message(topics: Topics, data: dict[str, Any]) -> Message:
    """``state/schedule``: both schedules, ``active``, ``dimmed`` and ``next_change``."""
    return json_message(topics.state_schedule, data)


def frame_message(topics: Topics, png: bytes) -> Message:
    return Message(topics.frame, png, 0, True)
