"""The store plugin picked in Home Assistant's "Store plugin" select."""

from __future__ import annotations

import threading


class StoreSelection:
    """Remembered between ``store_select`` and ``store_install``; thread-safe.

    Held in memory: after a restart nothing is selected (the select shows none).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plugin_id = ""

    def get(self) -> str:
        with self._lock:
            return self._plugin_id

    def set(self, plugin_id: str) -> None:
        with self._lock:
            self._plugin_id = plugin_id
