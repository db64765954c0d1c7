"""The one reader of plugin schemas, with the metaschema check remembered across restarts.

Checking a ``config_schema.json`` against its metaschema needs jsonschema (about
0.1 s of CPU to import on an x86 core, several times that on a Pi) plus a few ms
per schema, and the service publishes every plugin's settings before it is
online. The check depends only on the file's bytes, so a pass is remembered by
SHA-256: in memory for the process, and in ``<state_dir>/cache/checked-schemas.json``
once the composition root calls :meth:`SchemaChecks.keep_in` and :meth:`save`, so a
restart with unchanged plugins imports no jsonschema to get online. Only passes are
remembered; a broken schema is checked (and refused) on every read.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.plugin_settings import SCHEMA_FILE, parse_schema
from ledmatrix_mqtt.errors import InvalidManifest, StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json

MAX_REMEMBERED = 1024  # digests kept on disk (a few per installed plugin version)


class SchemaChecks:
    """A thread-safe set of the SHA-256 digests of schema texts that passed the check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saving = threading.RLock()
        self._passed: dict[str, None] = {}  # insertion-ordered: the oldest are dropped first
        self._path: Path | None = None
        self._dirty = False

    def keep_in(self, path: Path) -> None:
        """Remember passes in ``path`` too; what it holds already counts (a missing or
        corrupt file holds nothing)."""
        stored = read_json(path, default=[])
        with self._lock:
            self._path = path
            if isinstance(stored, list):
                for digest in stored[-MAX_REMEMBERED:]:
                    if isinstance(digest, str):
                        self._passed.setdefault(digest, None)

    def parse(self, raw: bytes) -> Mapping[str, Any]:
        """``parse_schema`` of ``raw``, skipping the metaschema check for a known pass."""
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            known = digest in self._passed
        schema = parse_schema(raw, checked=known)
        if not known:
            with self._lock:
                self._passed[digest] = None
                self._dirty = True
        return schema

    def save(self) -> None:
        """Write the passes learnt since the last save (no-op without ``keep_in``).

        A failed write only costs the next start a check: it is not an error.
        """
        with self._saving:  # one writer; close() waits for it
            with self._lock:
                if self._path is None or not self._dirty:
                    return
                digests, path = list(self._passed)[-MAX_REMEMBERED:], self._path
                self._dirty = False
            try:
                atomic_write_json(path, digests)
            except StorageFailed:
                with self._lock:
                    self._dirty = True

    def close(self) -> None:
        """``save``, then stop writing (the state dir's owner is shutting down)."""
        with self._saving:
            self.save()
            with self._lock:
                self._path = None


CHECKS = SchemaChecks()  # a pass is a property of the bytes: one memo per process is right


def read_schema(folder: Path) -> Mapping[str, Any] | None:
    """The plugin's ``config_schema.json`` (None without one); ``InvalidManifest`` if broken."""
    path = folder / SCHEMA_FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InvalidManifest(f"{SCHEMA_FILE} is unreadable: {exc.strerror or exc}") from exc
    return CHECKS.parse(raw)
