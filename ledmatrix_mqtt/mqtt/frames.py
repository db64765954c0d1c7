"""Publishes the panel frame (PNG) retained, only when it changed, at most once per interval."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from ledmatrix_mqtt.api import DisplayApi
from ledmatrix_mqtt.mqtt.messages import Message
from ledmatrix_mqtt.mqtt.state import frame_message
from ledmatrix_mqtt.mqtt.topics import Topics

_LOG = logging.getLogger(__name__)


class FramePublisher:
    """``frame_changed()`` is cheap and safe from the display thread; a private
    thread does the PNG encode and publish, rate-capped to ``interval`` seconds."""

    def __init__(
        self,
        topics: Topics,
        display: DisplayApi,
        publish: Callable[[Message], bool],
        *,
        interval: float = 1.0,
    ) -> None:
        self._topics = topics
        self._display = display
        self._publish = publish
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._force = False
        self._last_digest = b""
        self._thread = threading.Thread(target=self._run, name="mqtt-frames", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(3.0)

    def frame_changed(self) -> None:
        self._wake.set()

    def republish(self) -> None:
        """Send the current frame even if unchanged (after a reconnect)."""
        self._force = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            started = time.monotonic()
            self._publish_once()
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def _publish_once(self) -> None:
        force, self._force = self._force, False
        try:
            png = self._display.frame_png()
        except Exception:  # the display is another team's code: log, keep serving
            _LOG.exception("reading the panel frame failed")
            return
        digest = hashlib.blake2b(png, digest_size=16).digest()
        if digest == self._last_digest and not force:
            return
        if self._publish(frame_message(self._topics, png)):
            self._last_digest = digest
