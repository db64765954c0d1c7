"""Store and display values as JSON-ready dicts (the wire form). Pure.

Used by responses and retained state alike, so a plugin looks the same in the
``list`` response and on ``state/plugins``. Dicts never leave the MQTT package:
they exist only to be encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from ledmatrix_mqtt.api import (
    DisplayState,
    PluginRuntimeStatus,
    ReconcileReport,
    SearchResult,
    UpdateAllResult,
)
from ledmatrix_mqtt.core.models import InstalledPlugin, InstallResult, StoreEntry, UninstallResult
from ledmatrix_mqtt.mqtt.messages import encode_json


def release_url(plugin: InstalledPlugin) -> str:
    """An ``https://`` URL with a host for the plugin's page, or "" (never a non-URL)."""
    remote = plugin.git.remote_url if plugin.git else ""
    raw = plugin.manifest.raw if plugin.manifest else {}
    for value in (
        remote.removesuffix(".git"),
        *(raw.get(k) for k in ("homepage", "repo", "repository")),
    ):
        if isinstance(value, str) and _is_web_url(value):
            return value
    return ""


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parts.scheme == "https" and bool(parts.hostname) and not any(c.isspace() for c in value)


def plugin_data(plugin: InstalledPlugin, status: PluginRuntimeStatus | None) -> dict[str, Any]:
    return {
        "id": plugin.id,
        "name": plugin.name,
        "version": plugin.version,
        "latest_version": plugin.latest_version or plugin.version,
        "update_available": plugin.update_available,
        "enabled": plugin.enabled,
        "loaded": bool(status and status.loaded),
        "loading": bool(status and status.loading),
        "healthy": bool(status and status.healthy) if status else not plugin.error,
        "error": plugin.error or (status.error if status else ""),
        "source": str(plugin.source),
    }


def plugins_data(
    installed: Sequence[InstalledPlugin], runtime: Sequence[PluginRuntimeStatus]
) -> list[dict[str, Any]]:
    by_id = {s.plugin_id: s for s in runtime}
    return [plugin_data(p, by_id.get(p.id)) for p in sorted(installed, key=lambda p: p.id)]


def list_data(
    installed: Sequence[InstalledPlugin], runtime: Sequence[PluginRuntimeStatus]
) -> bytes:
    """The data of a ``list`` response, encoded (kept and spliced by ``ListAnswer``)."""
    return encode_json({"plugins": plugins_data(installed, runtime)})


def install_data(result: InstallResult) -> dict[str, Any]:
    """Every field, by its name (``source`` is a ``StrEnum``: JSON writes its value)."""
    return asdict(result)


def uninstall_data(result: UninstallResult) -> dict[str, Any]:
    return asdict(result)


def update_all_data(result: UpdateAllResult) -> dict[str, Any]:
    return {
        "results": [install_data(r) for r in result.results],
        "errors": [{"plugin_id": pid, **err.to_dict()} for pid, err in result.errors],
    }


def store_entry_data(entry: StoreEntry) -> dict[str, Any]:
    e = entry.entry
    out: dict[str, Any] = {
        "id": e.id,
        "name": e.name,
        "latest_version": e.latest_version,
        "description": e.description,
        "author": e.author,
        "category": e.category,
        "tags": list(e.tags),
        "verified": e.verified,
        "installed": entry.installed,
        "installed_version": entry.installed_version,
    }
    return out | enrichment_data(entry)


def enrichment_data(entry: StoreEntry) -> dict[str, Any]:
    """The GitHub fields of an entry, for both the search answer and ``state/store``."""
    out: dict[str, Any] = {"enriched": entry.enriched}
    if entry.repo_info:
        out["stars"] = entry.repo_info.stars
        out["last_updated"] = entry.repo_info.pushed_at  # the repository's last push
    return out


def search_data(result: SearchResult) -> dict[str, Any]:
    return {
        "entries": [store_entry_data(e) for e in result.entries],
        "fetched_at": result.fetched_at,
        "stale": result.stale,
        "complete": result.complete,
    }


def store_summary_data(result: SearchResult | None) -> dict[str, Any]:
    """The small retained registry summary: a few fields per entry, plus the GitHub
    enrichment already cached (``enriched``, ``stars``, ``last_updated``), so a browse
    answered before enrichment finished is completed here when it lands."""
    if result is None:
        return {"fetched_at": None, "stale": True, "entries": []}
    entries = [_summary_entry(e) for e in result.entries]
    return {"fetched_at": result.fetched_at, "stale": result.stale, "entries": entries}


def _summary_entry(entry: StoreEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": entry.entry.id,
        "name": entry.entry.name,
        "latest_version": entry.entry.latest_version,
        "installed": entry.installed,
    }
    return out | enrichment_data(entry)


def reconcile_data(report: ReconcileReport) -> dict[str, Any]:
    if report.successful:
        result = "ok" if report.inconsistencies or report.fixed else "clean"
    else:
        result = "needs_attention"
    return {
        "result": result,
        "dry_run": report.dry_run,
        "successful": report.successful,
        "inconsistencies": [asdict(i) for i in report.inconsistencies],
        "fixed": [asdict(i) for i in report.fixed],
        "needs_attention": [asdict(i) for i in report.needs_attention],
        "finished_at": report.finished_at,
    }


def display_data(state: DisplayState, text: str = "") -> dict[str, Any]:
    return {
        "power": "ON" if state.power else "OFF",
        "brightness": state.brightness,
        "current_plugin": state.current_plugin,
        "current_mode": state.current_mode,
        "since": state.since,
        "pinned_until": state.pinned_until,
        "backend": state.backend,
        "text": text,
    }
