"""The cache LEDMatrix plugins get as ``cache_manager``: ``get/set/delete`` with ``max_age``.

Values live in memory; JSON-serialisable values are also written under
``<state_dir>/cache/runtime/<plugin>/`` so a restart does not refetch everything.
Keys are namespaced per plugin, so two plugins using the key "data" do not collide.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json

_LOG = logging.getLogger(__name__)


class PluginCache:
    """A per-plugin key/value cache with timestamps. Thread-safe."""

    def __init__(self, folder: Path | None, config_manager: Any = None) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Any]] = {}
        self.config_manager = config_manager

    def _file(self, key: str) -> Path | None:
        if self._folder is None:
            return None
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self._folder / f"{digest}.json"

    def get(self, key: str, max_age: float | None = 300) -> Any:
        """The value stored under ``key`` if younger than ``max_age`` seconds (None = any age)."""
        with self._lock:
            item = self._items.get(key)
        if item is None:
            item = self._load(key)
        if item is None:
            return None
        stored_at, value = item
        if max_age is not None and time.time() - stored_at > max_age:
            return None
        return value

    def set(self, key: str, value: Any) -> None:
        now = time.time()
        with self._lock:
            self._items[key] = (now, value)
        path = self._file(key)
        if path is None:
            return
        try:
            atomic_write_json(path, {"key": key, "stored_at": now, "value": value})
        except (TypeError, ValueError):
            pass  # not JSON-serialisable: memory only
        except StorageFailed as exc:  # disk full, read-only: memory only
            _LOG.debug("cache write failed: %s", exc.message)

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)
        path = self._file(key)
        if path is not None:
            with contextlib.suppress(OSError):  # read-only state dir: cannot do more
                path.unlink(missing_ok=True)

    def clear_cache(self, key: str | None = None) -> None:
        """LEDMatrix name: drop one key, or everything."""
        if key is not None:
            self.delete(key)
            return
        with self._lock:
            keys = list(self._items)
        for k in keys:
            self.delete(k)

    def _load(self, key: str) -> tuple[float, Any] | None:
        path = self._file(key)
        if path is None or not path.is_file():
            return None
        try:
            data = read_json(path)
        except (OSError, json.JSONDecodeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        item = (float(data.get("stored_at", 0.0)), data.get("value"))
        with self._lock:
            self._items.setdefault(key, item)
        return item
