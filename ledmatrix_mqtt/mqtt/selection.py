"""The store plugin picked in Home Assistant's "Store plugin" select."""

from __future__ import annotations

import threading

from ledmatrix_mqtt.core.ids import MaybePluginId


class StoreSelection:
    """Remembered between ``store_select`` and ``store_install``; thread-safe.

    Held in memory: after a restart nothing is selected (the select shows none).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plugin_id: MaybePluginId = ""

    def get(self) -> MaybePluginId:
        with self._lock:
            return self._plugin_id

    def set(self, plugin_id: MaybePluginId) -> None:
        with self._lock:
            self._plugin_id = plugin_id
