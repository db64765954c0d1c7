"""Runs plugins' ``update()`` off the render thread, on their interval, with real timeouts.

One scheduler thread decides what is due; each update runs on its own daemon
worker holding the plugin's lock (so it never overlaps that plugin's render,
and at most one update per plugin runs at a time: LEDMatrix #437). The
scheduler never waits on a worker: after ``timeout`` seconds it counts the
update as failed and moves on (a Python thread cannot be killed, so the worker
finishes in the background and the plugin is not re-run until it has). Failures
feed the plugin's ``PluginHealth``; three in a row start a cool-down. A failure
is stamped like a success, so the retry comes one interval later, never never
(LEDMatrix #316).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ledmatrix_mqtt.runtime.loaded import PLUGIN_ERRORS, LoadedPlugin

_LOG = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 30.0
IDLE_WAKE_S = 60.0


@dataclass
class _Entry:
    plugin: LoadedPlugin
    interval: float
    next_due: float = 0.0  # never updated -> due at once
    worker: threading.Thread | None = None
    started: float = 0.0
    timed_out: bool = False


class UpdateScheduler:
    """Schedules ``update()`` of the tracked plugins. ``start``/``stop`` own the thread."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="plugin-updates", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def track(self, plugin: LoadedPlugin) -> None:
        """Schedule ``plugin`` (due at once); plugins without ``update()`` are ignored."""
        interval = plugin.update_interval()
        if interval is None:
            return
        with self._lock:
            self._entries[plugin.plugin_id] = _Entry(plugin, interval)
        self._wake.set()

    def forget(self, plugin_id: str) -> None:
        with self._lock:
            self._entries.pop(plugin_id, None)

    def is_updating(self, plugin_id: str) -> bool:
        with self._lock:
            entry = self._entries.get(plugin_id)
            return bool(entry and entry.worker and entry.worker.is_alive())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._tick(self._clock())
            except Exception:  # our own bug must not end all updates
                _LOG.exception("update scheduler tick failed")
                wait = 1.0
            self._wake.wait(max(0.01, wait))
            self._wake.clear()

    def _tick(self, now: float) -> float:
        """Start due updates, time out overdue ones; return seconds until the next event."""
        next_event = now + IDLE_WAKE_S
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            health = entry.plugin.health
            if entry.worker is not None and entry.worker.is_alive():
                deadline = entry.started + self._timeout
                if not entry.timed_out and now >= deadline:
                    entry.timed_out = True
                    entry.plugin.abandoned = True
                    _LOG.warning("%s: update() timed out after %.0f s",
                                 entry.plugin.plugin_id, self._timeout)  # fmt: skip
                    health.record_update_failure(now, f"update timed out after {self._timeout:g} s")
                elif not entry.timed_out:
                    next_event = min(next_event, deadline)
                continue
            cooldown_end = health.snapshot().cooldown_until
            due = max(entry.next_due, cooldown_end)
            if now >= due:
                self._launch(entry, now)
                next_event = min(next_event, now + self._timeout)
            else:
                next_event = min(next_event, due)
        return next_event - now

    def _launch(self, entry: _Entry, now: float) -> None:
        entry.started = now
        entry.timed_out = False
        entry.worker = threading.Thread(
            target=self._work, args=(entry,), name=f"update-{entry.plugin.plugin_id}", daemon=True
        )
        entry.worker.start()

    def _work(self, entry: _Entry) -> None:
        plugin = entry.plugin
        error = ""
        with plugin.lock:
            plugin.abandoned = False  # whatever held the lock has returned
            try:
                plugin.update()
                plugin.refresh_live()  # live content changes with the plugin's data
            except PLUGIN_ERRORS as exc:  # a plugin's failure is recorded, not fatal
                error = plugin.failure("update", exc)
        finished = self._clock()
        with self._lock:
            entry.next_due = finished + entry.interval
            timed_out = entry.timed_out
        if not error:
            plugin.health.record_update_success()
        elif not timed_out:
            _LOG.warning("%s: %s", plugin.plugin_id, error)
            plugin.health.record_update_failure(finished, error)
        self._wake.set()
