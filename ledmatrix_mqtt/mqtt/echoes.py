"""Our retained topics as the broker echoes them back: stale plugin state, deletions.

The front end subscribes to its own availability and state topics. What comes
back tells two things: a retained ``state/plugins/<id>`` of a plugin we do not
know (left by an earlier run) is cleared, and a retained topic of ours that
someone emptied or overwrote is restored by republishing everything. Each echo
is O(1) on the dispatcher (a note in a bounded set); the work runs as one
coalesced job on the front end's worker, in short batches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ledmatrix_mqtt.mqtt.client import BrokerConnection, Inbound
from ledmatrix_mqtt.mqtt.publisher import StatePublisher
from ledmatrix_mqtt.mqtt.state import ONLINE
from ledmatrix_mqtt.mqtt.topics import Topics
from ledmatrix_mqtt.mqtt.workers import OneShot

_LOG = logging.getLogger(__name__)
MAX_NOTED = 1000  # topics noted for one clearing or restoring pass
STALE_BATCH = 20  # stale plugin states cleared per worker job
Coalesced = Callable[[str, Callable[[], None]], None]


class EchoWatch:
    """Thread-safe. ``coalesced(key, job)`` queues a job unless one of its kind waits;
    ``take_token()`` pays for a deletion from the shared inbound budget;
    ``republish_all()`` restores everything."""

    def __init__(
        self,
        topics: Topics,
        publisher: StatePublisher,
        connection: BrokerConnection,
        *,
        coalesced: Coalesced,
        take_token: Callable[[], bool],
        republish_all: Callable[[], None],
    ) -> None:
        self._topics = topics
        self._publisher = publisher
        self._connection = connection
        self._coalesced = coalesced
        self._take_token = take_token
        self._republish_all = republish_all
        self._lock = threading.Lock()
        self._stale: set[str] = set()  # plugin ids with retained state we may not know
        self._deleted: set[str] = set()  # our retained topics someone may have overwritten
        # restores of overwritten/deleted state: at once, then at most once a second
        self._restore = OneShot(
            (0.0, 0.0), lambda: coalesced("restore", self._restore_deleted), min_interval=1.0
        )

    def cancel(self) -> None:
        self._restore.cancel()

    def on_availability(self, msg: Inbound) -> None:
        """Our availability echoed: anything but ``online`` (a live one) was overwritten."""
        if msg.payload == ONLINE:
            return
        if msg.retain and not self._connection.is_v5:
            # MQTT 3.1.1 flags only replays as retained: our previous run's last will
            return
        with self._lock:
            self._deleted.add(self._topics.availability)
        self._restore.schedule()

    def on_state(self, topic: str, msg: Inbound) -> None:
        """Retained state under ROOT/state/: note a plugin state or a deletion (paid)."""
        if msg.payload and not msg.retain:
            return  # our own publication, echoed on MQTT 3.1.1
        plugin_id = self._topics.plugin_of_state(topic)
        if msg.payload:
            if plugin_id is not None:
                with self._lock:
                    if len(self._stale) < MAX_NOTED:
                        self._stale.add(plugin_id)
                self._coalesced("stale", self._clear_stale)
        elif self._take_token():
            with self._lock:
                if len(self._deleted) < MAX_NOTED:
                    self._deleted.add(topic)
            self._restore.schedule()

    def _clear_stale(self) -> None:
        """A short batch, then back in the queue: commands interleave with a big clean-up."""
        with self._lock:
            batch = [self._stale.pop() for _ in range(min(STALE_BATCH, len(self._stale)))]
            more = bool(self._stale)
        for plugin_id in sorted(batch):  # it skips plugins we know
            self._publisher.clear_stale_plugin(plugin_id)
        if more:
            # the clears leave before the next batch, so a response never queues
            # behind thousands of them in the client
            self._connection.flush(5.0)
            self._coalesced("stale", self._clear_stale)

    def _restore_deleted(self) -> None:
        """Republish everything if one of the noted topics is ours and should exist."""
        with self._lock:
            deleted, self._deleted = self._deleted, set()
        known = self._publisher.known_plugins() or frozenset()
        ours = {self._topics.availability, *self._topics.fixed_state}
        lost = sorted(t for t in deleted if t in ours or self._topics.plugin_of_state(t) in known)
        if lost:
            _LOG.warning("retained %s overwritten or deleted; republishing everything", lost[0])
            self._republish_all()
