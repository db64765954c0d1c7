"""The transaction journal: a repeated ``transaction`` gets the first response again.

QoS 1 may deliver a command twice, and a client may retry after the service
restarted; neither may install or uninstall twice. Finished responses are kept
in memory, bounded by count, total size and age (oldest dropped first). A
duplicate that arrives while the first is still running waits for it and gets
the same response.

Disk: only *durable* commands (those that change the store or config) are
written, as one appended JSON line each (``state_dir/mqtt/transactions.jsonl``)
followed by one ``fsync``; a ``list`` or ``next`` with a transaction writes
nothing. When the file passes ``MAX_FILE_BYTES`` it is compacted (atomic rewrite
of the newest records, half the bound), so bytes written stay under twice the
bytes appended; older records then live on in memory only. Loading skips any
line that does not parse, so a torn last line after a power cut costs only that
record.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.fsutil import atomic_write_bytes

_LOG = logging.getLogger(__name__)

MAX_ENTRIES = 500
MAX_BYTES = 1024 * 1024  # of responses kept in memory
MAX_AGE_S = 24 * 3600.0
MAX_FILE_BYTES = 256 * 1024  # compaction threshold of the on-disk journal
FILE_NAME = "transactions.jsonl"


@dataclass(frozen=True)
class Claim:
    """What ``TransactionJournal.claim`` decided for one request.

    ``fresh``: run the command. Otherwise ``response`` is the stored envelope
    (bytes), or None if the first copy is still running (the waiter is kept).
    """

    fresh: bool
    response: bytes | None = None


Waiter = Callable[[bytes], None]


@dataclass(frozen=True)
class _Entry:
    stamp: float
    response: bytes
    durable: bool


class TransactionJournal:
    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(folder) / FILE_NAME
        self._clock = clock
        self._lock = threading.Lock()
        self._done: OrderedDict[str, _Entry] = OrderedDict()
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
            entry = self._done.get(key)
            if entry is not None:
                return Claim(False, entry.response)
            if key in self._pending:
                self._pending[key].append(waiter)
                return Claim(False, None)
            self._pending[key] = []
            return Claim(True)

    def release(self, command: str, transaction: str) -> None:
        """Forget a claim whose command never ran (queue full, shutdown)."""
        with self._lock:
            self._pending.pop(self.key(command, transaction), None)

    def finish(
        self, command: str, transaction: str, response: bytes, *, durable: bool = True
    ) -> list[Waiter]:
        """Store the response (on disk too if ``durable``); returns the waiters to answer."""
        key = self.key(command, transaction)
        with self._lock:
            waiters = self._pending.pop(key, [])
            entry = _Entry(self._clock(), response, durable)
            self._store(key, entry)
            self._trim()
            if durable:
                try:  # under the lock: records reach the file in the order they finished
                    self._append(key, entry)
                except (OSError, LedMatrixError) as exc:
                    # Dedup still works in memory; only the across-restart guarantee is lost.
                    _LOG.warning("cannot persist transaction journal: %s", exc)
        return waiters

    # -- memory -------------------------------------------------------------------
    def _store(self, key: str, entry: _Entry) -> None:
        old = self._done.pop(key, None)
        self._bytes += len(entry.response) - (len(old.response) if old else 0)
        self._done[key] = entry

    def _trim(self) -> None:
        horizon = self._clock() - MAX_AGE_S
        while self._done and (
            len(self._done) > MAX_ENTRIES
            or (self._bytes > MAX_BYTES and len(self._done) > 1)
            or next(iter(self._done.values())).stamp < horizon
        ):
            self._bytes -= len(self._done.popitem(last=False)[1].response)

    # -- disk ---------------------------------------------------------------------
    @staticmethod
    def _line(key: str, entry: _Entry) -> bytes:
        record = {"k": key, "t": entry.stamp, "r": entry.response.decode("utf-8", "replace")}
        return json.dumps(record, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"

    def _append(self, key: str, entry: _Entry) -> None:
        line = self._line(key, entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of one line: a crash tears at most this line
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > MAX_FILE_BYTES:
            self._compact()

    def _compact(self) -> None:
        """Rewrite with the newest durable records filling half the bound, so the next
        compaction is at least half a bound of appends away (writes stay <= 2x appends)."""
        keep: list[bytes] = []
        size = 0
        for key, entry in reversed(self._done.items()):
            if not entry.durable:
                continue
            line = self._line(key, entry)
            if size + len(line) > MAX_FILE_BYTES // 2:
                break
            keep.append(line)
            size += len(line)
        atomic_write_bytes(self.path, b"".join(reversed(keep)), mode=0o600)

    def _load(self) -> None:
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError:
            return
        for raw in lines:
            try:
                record = json.loads(raw)
                key, stamp, response = record["k"], float(record["t"]), record["r"]
            except (ValueError, TypeError, KeyError):
                continue  # a torn or foreign line
            if isinstance(key, str) and isinstance(response, str):
                self._store(key, _Entry(stamp, response.encode("utf-8", "replace"), True))
        self._trim()
