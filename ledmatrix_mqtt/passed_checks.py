"""Plugin schema checks: where they run, and those that passed, remembered across restarts.

``core.plugin_settings`` checks a ``config_schema.json`` and a plugin's block
with jsonschema, which costs about 3-5 MiB of resident memory once imported. A
check that passed is remembered here by a digest of exactly what was checked
(the schema text; the schema and the block with defaults), so a restart with
unchanged plugins and config loads them without importing jsonschema. A failed
check is never remembered: an invalid block is rejected with the same error
every time. The memory is dropped when the installed jsonschema changes.

:data:`PASSED` is the one memo of the process (the runtime's loads and the
store's settings share it). Without :meth:`PassedChecksFile.persist_in` it is
kept in memory only; the service persists it under its state dir (mode 0600:
a block's digest covers its secrets). Checks run with jsonschema in this process
until :meth:`PassedChecksFile.check_with` names another checker (the service's
child worker, ``ledmatrix_mqtt.schema_worker``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.plugin_settings import SCHEMA_FILE, parse_schema
from ledmatrix_mqtt.core.schema_check import IN_PROCESS, SchemaChecker
from ledmatrix_mqtt.errors import InvalidManifest, StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json

_LOG = logging.getLogger(__name__)
FILE_NAME = "passed-checks.json"
MAX_ENTRIES = 512  # newest kept: blocks that changed long ago drop out


def validator_stamp() -> str:
    """Which jsonschema is installed (its location and modification time), without importing it."""
    spec = importlib.util.find_spec("jsonschema")
    origin = spec.origin if spec is not None else None
    if not origin:
        return ""
    try:
        return f"{origin}:{os.stat(origin).st_mtime_ns}"
    except OSError:
        return ""


class PassedChecksFile:
    """``core.plugin_settings.Checks``: a checker and the digests of passed checks; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checker: SchemaChecker = IN_PROCESS
        self._known: dict[str, None] = {}  # insertion ordered: oldest first
        self._path: Path | None = None
        self._stamp = ""
        self._dirty = False

    @property
    def checker(self) -> SchemaChecker:
        return self._checker

    def check_with(self, checker: SchemaChecker) -> SchemaChecker:
        """Run later checks with ``checker``; returns the one used until now."""
        with self._lock:
            previous, self._checker = self._checker, checker
        return previous

    def known(self, digest: str) -> bool:
        with self._lock:
            return digest in self._known

    def remember(self, digest: str) -> None:
        with self._lock:
            if digest in self._known:
                return
            self._known[digest] = None
            while len(self._known) > MAX_ENTRIES:
                del self._known[next(iter(self._known))]
            self._dirty = True

    def persist_in(self, folder: Path) -> None:
        """Keep the digests in ``folder``; loads what an earlier process saved there."""
        path = Path(folder) / FILE_NAME
        stamp = validator_stamp()
        saved: list[str] = []
        try:
            doc = json.loads(path.read_bytes())
            if isinstance(doc, dict) and doc.get("jsonschema") == stamp and stamp:
                saved = [d for d in doc.get("passed", []) if isinstance(d, str)]
        except (OSError, ValueError, RecursionError):
            pass  # none yet, or unreadable: every check runs once more
        with self._lock:
            self._path, self._stamp = path, stamp
            merged = dict.fromkeys(saved) | self._known
            self._known = dict.fromkeys(list(merged)[-MAX_ENTRIES:])
            self._dirty = bool(self._known) and list(self._known) != saved

    def flush(self) -> None:
        """Save new digests (if persisting); a failure only costs the checks next time."""
        with self._lock:
            if self._path is None or not self._dirty or not self._stamp:
                return
            doc = {"jsonschema": self._stamp, "passed": list(self._known)}
            path, self._dirty = self._path, False
        try:
            atomic_write_json(path, doc, mode=0o600)
        except StorageFailed as exc:
            _LOG.info("could not save the passed schema checks: %s", exc.message)


PASSED = PassedChecksFile()


def read_schema(folder: Path) -> Mapping[str, Any] | None:
    """The plugin's ``config_schema.json`` (None without one); ``InvalidManifest`` if broken.

    The one reader of plugin schemas (store settings and runtime loads); a text that
    passed its metaschema check before is not checked again (:data:`PASSED`).
    """
    path = folder / SCHEMA_FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InvalidManifest(f"{SCHEMA_FILE} is unreadable: {exc.strerror or exc}") from exc
    return parse_schema(raw, PASSED)
