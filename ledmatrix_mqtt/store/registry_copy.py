"""The last good registry, kept on disk so a device that boots offline still knows it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.models import Registry
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
