"""Per-plugin locks that refuse instead of wait.

A second install, update or removal of a plugin that is already being worked
on raises ``Busy`` at once. Waiting would only repeat the same work (a double
click) after the first finished, and would block the caller's thread for the
length of a download; the operation queue above serialises real requests.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ledmatrix_mqtt.errors import Busy


class PluginLocks:
    """The set of plugin ids with an operation in progress."""

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, *plugin_ids: str) -> None:
        """Take every id or none; ``Busy`` if any is held."""
        ids = set(plugin_ids)
        with self._lock:
            taken = sorted(ids & self._held)
            if taken:
                raise Busy(
                    f"another operation on {', '.join(taken)} is in progress",
                    details={"plugin_ids": taken},
                )
            self._held |= ids

    def release(self, *plugin_ids: str) -> None:
        with self._lock:
            self._held -= set(plugin_ids)

    @contextlib.contextmanager
    def hold(self, *plugin_ids: str) -> Iterator[None]:
        self.acquire(*plugin_ids)
        try:
            yield
        finally:
            self.release(*plugin_ids)
