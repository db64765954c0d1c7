"""The two-phase removal of a plugin folder, driven by the uninstall flow.

``Installer.remove`` moves ``plugins/<id>`` aside under a journal and returns a
ticket. The caller edits the config and records, then ``commit()`` deletes the
aside, or ``rollback()`` puts the folder back if a later step failed. A crash
in between, or a commit or rollback that fails, is settled by
``Installer.recover`` at the next start (see ``swap.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ledmatrix_mqtt.store.swap import PluginSwap, SwapRecord


class RemovalTicket:
    """A plugin folder moved aside, waiting for ``commit`` or ``rollback`` (once)."""

    def __init__(self, swap: PluginSwap, record: SwapRecord, release: Callable[[], None]) -> None:
        self._swap = swap
        self._record = record
        self._release = release
        self._lock = threading.Lock()
        self._settled = False

    @property
    def plugin_id(self) -> str:
        return self._record.plugin_id

    @property
    def settled(self) -> bool:
        return self._settled

    def commit(self) -> None:
        """Delete the aside for good. Idempotent; releases the plugin lock."""
        self._settle(self._swap.commit)

    def rollback(self) -> None:
        """Put the folder back where it was. Idempotent; releases the plugin lock."""
        self._settle(self._swap.restore)

    def _settle(self, action: Callable[[SwapRecord], None]) -> None:
        """Run ``action`` once. If it raises, its journal record stays for the start-up
        recovery to settle; the lock is released either way (else the plugin would stay
        ``busy`` until a restart)."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
            try:
                action(self._record)
            finally:
                self._release()
