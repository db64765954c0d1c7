"""Where things live under ``state_dir``, and the lock that guards it.

Everything the service writes lives here; staging and rollback folders sit on
the same filesystem as ``plugins/`` so every swap is a rename.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ledmatrix_mqtt.errors import Busy, StorageFailed


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def rollback(self) -> Path:
        return self.root / "rollback"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def frames(self) -> Path:
        return self.root / "frames"

    @property
    def lock_file(self) -> Path:
        return self.root / "service.lock"

    def ensure(self) -> None:
        """Create the folders; ``StorageFailed`` if the state dir is not writable."""
        try:
            for folder in (self.plugins, self.staging, self.rollback, self.cache,
                           self.journal, self.records):  # fmt: skip
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageFailed(f"cannot create state dir {self.root}: {exc.strerror}") from exc


class StateLock:
    """An exclusive ``flock`` on ``state_dir/service.lock``.

    The service holds it for its lifetime; ``plugins ... --offline`` takes it for
    one command and refuses (``Busy``) while the service runs.
    """

    def __init__(self, layout: StateLayout, owner: str) -> None:
        self.path = layout.lock_file
        self.owner = owner
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise Busy(
                    f"the state dir {self.path.parent} is in use by {holder}; "
                    "stop the service or drop --offline to send the command to it"
                ) from exc
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.owner} (pid {os.getpid()})\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
