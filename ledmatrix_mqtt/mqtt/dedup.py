"""The transaction journal: a repeated ``transaction`` gets the first response again.

QoS 1 may deliver a command twice, and a client may retry after the service
restarted; neither may install or uninstall twice. Finished responses are kept
in memory and in ``state_dir/mqtt/transactions.json`` (atomic rewrite), bounded
by count, total size and age (oldest dropped first). A duplicate that arrives
while the first is still running waits for it and gets the same response.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.fsutil import atomic_write_json, read_json

_LOG = logging.getLogger(__name__)

MAX_ENTRIES = 500
MAX_BYTES = 1024 * 1024  # of stored responses: bounds memory and the rewrite per command
MAX_AGE_S = 24 * 3600.0


@dataclass(frozen=True)
class Claim:
    """What ``TransactionJournal.claim`` decided for one request.

    ``fresh``: run the command. Otherwise ``response`` is the stored envelope
    (bytes), or None if the first copy is still running (the waiter is kept).
    """

    fresh: bool
    response: bytes | None = None


Waiter = Callable[[bytes], None]


class TransactionJournal:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._done: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._pending: dict[str, list[Waiter]] = {}
        self._bytes = 0  # total size of the responses in ``_done``
        self._load()

    @staticmethod
    def key(command: str, transaction: str) -> str:
        return f"{command}\x1f{transaction}"

    def claim(self, command: str, transaction: str, waiter: Waiter) -> Claim:
        """Register a request. ``waiter`` is called later only for a pending duplicate."""
        key = self.key(command, transaction)
        with self._lock:
            if key in self._done:
                return Claim(False, self._done[key][1])
            if key in self._pending:
                self._pending[key].append(waiter)
                return Claim(False, None)
            self._pending[key] = []
            return Claim(True)

    def release(self, command: str, transaction: str) -> None:
        """Forget a claim whose command never ran (queue full, shutdown)."""
        with self._lock:
            self._pending.pop(self.key(command, transaction), None)

    def finish(self, command: str, transaction: str, response: bytes) -> list[Waiter]:
        """Store the response; returns the waiters of duplicates to answer with it."""
        key = self.key(command, transaction)
        with self._lock:
            waiters = self._pending.pop(key, [])
            self._store(key, self._clock(), response)
            self._trim()
            snapshot = [[k, t, r.decode("utf-8")] for k, (t, r) in self._done.items()]
            try:  # under the lock so an older snapshot never overwrites a newer one
                atomic_write_json(self._path, {"version": 1, "entries": snapshot})
            except LedMatrixError as exc:
                # Dedup still works in memory; only the across-restart guarantee is lost.
                _LOG.warning("cannot persist transaction journal: %s", exc.message)
        return waiters

    def _store(self, key: str, stamp: float, response: bytes) -> None:
        old = self._done.pop(key, None)
        self._bytes += len(response) - (len(old[1]) if old else 0)
        self._done[key] = (stamp, response)

    def _trim(self) -> None:
        horizon = self._clock() - MAX_AGE_S
        while self._done and (
            len(self._done) > MAX_ENTRIES
            or (self._bytes > MAX_BYTES and len(self._done) > 1)
            or next(iter(self._done.values()))[0] < horizon
        ):
            self._bytes -= len(self._done.popitem(last=False)[1][1])

    def _load(self) -> None:
        data = read_json(self._path, default=None)
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return
        for item in entries:
            if (
                isinstance(item, list)
                and len(item) == 3
                and isinstance(item[0], str)
                and isinstance(item[1], int | float)
                and isinstance(item[2], str)
            ):
                self._store(item[0], float(item[1]), item[2].encode("utf-8"))
        self._trim()
