"""The bounded hand-off from paho's network thread to the dispatcher.

Bounded by count and by bytes so a flood cannot grow memory without limit;
what does not fit is dropped and counted (the sender sees no response).
Oversized payloads are cut to one byte over the cap before queueing: enough
for the codec to answer ``payload_too_large`` without holding the whole thing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading

from ledmatrix_mqtt.mqtt.client import Event, Inbound
from ledmatrix_mqtt.mqtt.codec import MAX_PAYLOAD_BYTES


class EventQueue:
    def __init__(self, max_items: int = 2000, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._items: queue.Queue[Event | None] = queue.Queue(maxsize=max_items)
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Never blocks (called on the network thread)."""
        size = 0
        if isinstance(event, Inbound):
            if len(event.payload) > MAX_PAYLOAD_BYTES:
                event = dataclasses.replace(event, payload=event.payload[: MAX_PAYLOAD_BYTES + 1])
            size = len(event.payload)
        with self._lock:
            if self._bytes + size > self._max_bytes:
                self.dropped += 1
                return
            try:
                self._items.put_nowait(event)
            except queue.Full:
                self.dropped += 1
                return
            self._bytes += size

    def get(self) -> Event | None:
        """Blocks; None means stop."""
        event = self._items.get()
        if isinstance(event, Inbound):
            with self._lock:
                self._bytes -= len(event.payload)
        return event

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self._items.put(None, timeout=2.0)
