"""On-disk copies: the last good registry (a device that boots offline still knows it)
and the GitHub enrichment values still within their TTLs."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.models import Registry, RepoInfo
from ledmatrix_mqtt.core.registry_format import parse_registry
from ledmatrix_mqtt.errors import InvalidPayload, StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json

_LOG = logging.getLogger(__name__)


def save_registry_copy(path: Path, source: str, document: Any, fetched_at: float) -> None:
    """Write the raw registry document atomically; a failure only warns."""
    record = {"source": source, "fetched_at": fetched_at, "document": document}
    try:
        atomic_write_json(path, record)
    except StorageFailed as exc:
        _LOG.warning("cannot keep a copy of the registry: %s", exc.message)


def load_registry_copy(path: Path, source: str) -> Registry | None:
    """The saved registry if it came from ``source`` and parses; else None."""
    record = read_json(path)
    if not isinstance(record, dict) or record.get("source") != source:
        return None
    fetched_at = record.get("fetched_at")
    try:
        return parse_registry(
            record.get("document"),
            source=source,
            fetched_at=float(fetched_at) if isinstance(fetched_at, int | float) else 0.0,
        )
    except InvalidPayload:
        _LOG.warning("ignoring a corrupt registry copy in %s", path)
        return None


# -- GitHub enrichment ------------------------------------------------------------------
# Keys are ("repo", slug) with values RepoInfo or None ("absent"), and ("slow", slug)
# with value True. Kept so a fresh process (the offline CLI) does not re-ask GitHub for
# every entry while the values are still within their TTLs.
EnrichmentItem = tuple[tuple[Any, ...], RepoInfo | bool | None, float]
_VERSION = 2  # version 1 held commit info and repo info without the last push


def save_enrichment(path: Path, items: list[EnrichmentItem]) -> None:
    """Write the enrichment values atomically; a failure only warns."""
    records = []
    for key, value, fetched_at in items:
        fields = dataclasses.asdict(value) if isinstance(value, RepoInfo) else None
        kind = "repo" if fields is not None else "slow" if value is True else "absent"
        records.append({"key": list(key), "kind": kind, "value": fields, "at": fetched_at})
    try:
        atomic_write_json(path, {"version": _VERSION, "items": records})
    except StorageFailed as exc:
        _LOG.warning("cannot keep the GitHub info cache: %s", exc.message)


def load_enrichment(path: Path) -> list[EnrichmentItem]:
    """The saved values; records that do not parse (or an older file) are skipped."""
    data = read_json(path)
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return []
    items = data.get("items")
    out: list[EnrichmentItem] = []
    for record in items if isinstance(items, list) else ():
        try:
            key = _key(record["key"])
            at = float(record["at"])
            kind, fields = record["kind"], record["value"]
            value = _value(key[0], kind, fields)
        except (KeyError, TypeError, ValueError):
            continue
        out.append((key, value, at))
    return out


def _value(name: str, kind: Any, fields: Any) -> RepoInfo | bool | None:
    if name == "repo" and kind == "repo":
        return RepoInfo(**fields)
    if name == "repo" and kind == "absent":
        return None
    if name == "slow" and kind == "slow":
        return True
    raise ValueError("bad record")


def _key(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, list) or len(raw) != 2 or raw[0] not in ("repo", "slow"):
        raise ValueError("bad key")
    if not isinstance(raw[1], str):
        raise ValueError("bad key")
    return raw[0], raw[1]
