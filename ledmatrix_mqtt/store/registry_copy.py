"""On-disk copies: the last good registry (a device that boots offline still knows it)
and the GitHub enrichment values still within their TTLs."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.models import CommitInfo, Registry, RepoInfo
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
# Keys are ("repo", slug) and ("commit", slug, branches); values RepoInfo, CommitInfo or
# None ("absent"). Kept so a fresh process (the offline CLI) does not re-ask GitHub for
# every entry while the values are still within their TTLs.
EnrichmentItem = tuple[tuple[Any, ...], RepoInfo | CommitInfo | None, float]


def save_enrichment(path: Path, items: list[EnrichmentItem]) -> None:
    """Write the enrichment values atomically; a failure only warns."""
    records = []
    for key, value, fetched_at in items:
        kind = "repo" if isinstance(value, RepoInfo) else "commit" if value else "absent"
        fields = dataclasses.asdict(value) if value is not None else None
        records.append({"key": _plain(key), "kind": kind, "value": fields, "at": fetched_at})
    try:
        atomic_write_json(path, {"version": 1, "items": records})
    except StorageFailed as exc:
        _LOG.warning("cannot keep the GitHub info cache: %s", exc.message)


def load_enrichment(path: Path) -> list[EnrichmentItem]:
    """The saved values; records that do not parse are skipped."""
    data = read_json(path)
    items = data.get("items") if isinstance(data, dict) else None
    out: list[EnrichmentItem] = []
    for record in items if isinstance(items, list) else ():
        try:
            key = _key(record["key"])
            at = float(record["at"])
            kind, fields = record["kind"], record["value"]
            value = (
                RepoInfo(**fields) if kind == "repo"
                else CommitInfo(**fields) if kind == "commit"
                else None
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue
        if kind in ("repo", "commit", "absent"):
            out.append((key, value, at))
    return out


def _plain(key: tuple[Any, ...]) -> list[Any]:
    return [list(part) if isinstance(part, tuple) else part for part in key]


def _key(raw: Any) -> tuple[Any, ...]:
    if not isinstance(raw, list) or not raw or raw[0] not in ("repo", "commit"):
        raise ValueError("bad key")
    key = tuple(tuple(p) if isinstance(p, list) else p for p in raw)
    if not all(isinstance(p, str | tuple) for p in key):
        raise ValueError("bad key")
    return key
