"""The persistent record of uninstalled plugins and the short uninstall tombstone.

``uninstalled.json`` is a sorted JSON list of plugin ids the user removed; the
reconciler never reinstalls them and installing one again forgets it.
``tombstones.json`` maps ids to the time they were removed; for
``tombstone_seconds`` afterwards the reconciler treats the plugin as gone even
if a config block or folder is still there (the uninstall may be half done).
Both files are written atomically and survive restarts. A missing or corrupt
file reads as empty (with a warning); invalid ids in it are dropped, so an
empty or ``..`` id can never name the whole plugins folder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.ids import PluginId, is_valid_plugin_id
from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json
from ledmatrix_mqtt.store.layout import StateLayout

_LOG = logging.getLogger(__name__)
TOMBSTONE_SECONDS = 300.0
_MISSING = object()


class UninstallRecords:
    """Thread-safe access to the uninstall record and tombstones under ``layout.records``."""

    def __init__(
        self,
        layout: StateLayout,
        *,
        clock: Callable[[], float] = time.time,
        tombstone_seconds: float = TOMBSTONE_SECONDS,
    ) -> None:
        self._uninstalled_path = layout.records / "uninstalled.json"
        self._tombstones_path = layout.records / "tombstones.json"
        self._clock = clock
        self._ttl = tombstone_seconds
        self._lock = threading.Lock()

    # -- persistent record --------------------------------------------------------
    def uninstalled(self) -> frozenset[PluginId]:
        """Every id recorded as uninstalled."""
        with self._lock:
            return frozenset(self._read_ids())

    def is_uninstalled(self, plugin_id: str) -> bool:
        return plugin_id in self.uninstalled()

    def record_uninstalled(self, plugin_id: PluginId) -> None:
        """Record the intent to uninstall and start its tombstone.

        All or nothing: on ``StorageFailed`` the record is left as it was, so a
        failed uninstall is not finished by the next start-up.
        """
        with self._lock:
            ids = self._read_ids()
            added = plugin_id not in ids
            if added:
                atomic_write_json(self._uninstalled_path, sorted(ids | {plugin_id}))
            now = self._clock()
            stones = {k: v for k, v in self._read_tombstones().items() if self._live(v, now)}
            stones[plugin_id] = now  # expired ones are dropped on each write: the file stays small
            try:
                atomic_write_json(self._tombstones_path, stones)
            except StorageFailed:
                if added:
                    atomic_write_json(self._uninstalled_path, sorted(ids))
                raise

    def forget(self, *plugin_ids: PluginId) -> None:
        """Drop ids from the record and their tombstones; writes only when something changed."""
        drop = set(plugin_ids)
        with self._lock:
            ids = self._read_ids()
            if ids & drop:
                atomic_write_json(self._uninstalled_path, sorted(ids - drop))
            stones = self._read_tombstones()
            if drop & stones.keys():
                atomic_write_json(
                    self._tombstones_path, {k: v for k, v in stones.items() if k not in drop}
                )

    # -- tombstones ------------------------------------------------------------------
    def tombstoned(self, plugin_id: str, now: float | None = None) -> bool:
        """True while ``plugin_id`` was uninstalled less than ``tombstone_seconds`` ago."""
        now = self._clock() if now is None else now
        with self._lock:
            removed_at = self._read_tombstones().get(plugin_id)
        return removed_at is not None and self._live(removed_at, now)

    def _live(self, removed_at: float, now: float) -> bool:
        return 0 <= now - removed_at < self._ttl

    def tombstones(self) -> frozenset[str]:
        """Every id with a tombstone, expired or not (the uninstalls since the last prune)."""
        with self._lock:
            return frozenset(self._read_tombstones())

    def prune_tombstones(self, now: float | None = None) -> None:
        """Forget expired tombstones (the record itself stays)."""
        now = self._clock() if now is None else now
        with self._lock:
            stones = self._read_tombstones()
            live = {k: v for k, v in stones.items() if self._live(v, now)}
            if live != stones:
                atomic_write_json(self._tombstones_path, live)

    # -- file reading ----------------------------------------------------------------
    def _read_ids(self) -> set[PluginId]:
        data = _read(self._uninstalled_path)
        if data is _MISSING:
            return set()
        if not isinstance(data, list):
            _LOG.warning("ignoring %s: not a JSON list", self._uninstalled_path)
            return set()
        return set(_valid_ids(data, self._uninstalled_path))

    def _read_tombstones(self) -> dict[str, float]:
        data = _read(self._tombstones_path)
        if data is _MISSING:
            return {}
        if not isinstance(data, dict):
            _LOG.warning("ignoring %s: not a JSON object", self._tombstones_path)
            return {}
        out: dict[str, float] = {}
        for key in _valid_ids(data.keys(), self._tombstones_path):
            value = data[key]
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = float(value)
        return out


def _read(path: Path) -> Any:
    if not path.exists():
        return _MISSING
    data = read_json(path, _MISSING)
    if data is _MISSING:
        _LOG.warning("ignoring %s: unreadable or not valid JSON", path)
    return data


def _valid_ids(values: Iterable[object], path: Path) -> list[PluginId]:
    values = list(values)
    good = [v for v in values if is_valid_plugin_id(v)]
    dropped = [v for v in values if not is_valid_plugin_id(v)]
    if dropped:
        _LOG.warning("dropping %d invalid plugin id(s) from %s", len(dropped), path)
    return good
