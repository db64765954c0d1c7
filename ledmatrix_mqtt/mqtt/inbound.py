"""The bounded hand-off from paho's network thread to the dispatcher.

Inbound messages are bounded by count and by bytes so a flood cannot grow
memory without limit; what does not fit is dropped and counted (the sender
sees no response). Connection events are never dropped: there are a handful
per reconnect, and losing a ``Connected`` would leave the service offline.
Oversized payloads are cut to one byte over the cap before queueing: enough
for the codec to answer ``payload_too_large`` without holding the whole thing.
"""

from __future__ import annotations

import dataclasses
import queue
import threading

from ledmatrix_mqtt.mqtt.client import Event, Inbound
from ledmatrix_mqtt.mqtt.limits import MAX_PAYLOAD_BYTES


class EventQueue:
    def __init__(self, max_items: int = 2000, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._items: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._inbound = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Never blocks (called on the network thread)."""
        if not isinstance(event, Inbound):
            self._items.put(event)
            return
        if len(event.payload) > MAX_PAYLOAD_BYTES:
            event = dataclasses.replace(event, payload=event.payload[: MAX_PAYLOAD_BYTES + 1])
        size = len(event.payload)
        with self._lock:
            if self._inbound >= self._max_items or self._bytes + size > self._max_bytes:
                self.dropped += 1
                return
            self._inbound += 1
            self._bytes += size
        self._items.put(event)

    def get(self) -> Event | None:
        """Blocks; None means stop."""
        event = self._items.get()
        if isinstance(event, Inbound):
            with self._lock:
                self._inbound -= 1
                self._bytes -= len(event.payload)
        return event

    def close(self) -> None:
        self._items.put(None)
