"""The current panel frame: pushed to the backend only when it changes.

A frame's identity is a BLAKE2 digest of its pixels, so a static clock that
re-renders every second costs a hash, not a panel write.

Frames arrive from more than one thread (the render thread, and the watchdog
thread a LEDMatrix plugin's ``update_display()`` runs on), and brightness
changes from the MQTT workers: every backend call goes through ``_backend_lock``
so the panel always shows the frame the store recorded last.
"""

from __future__ import annotations

import hashlib
import threading

from PIL import Image

from ledmatrix_mqtt.runtime.backends.base import PanelBackend
from ledmatrix_mqtt.runtime.png import encode_png
from ledmatrix_mqtt.runtime.snapshot import FrameSnapshot


class FrameStore:
    """Owns what the panel shows. Thread-safe."""

    def __init__(
        self,
        backend: PanelBackend,
        width: int,
        height: int,
        snapshot: FrameSnapshot | None = None,
    ) -> None:
        """``snapshot``: also offer every new frame to this file writer (throttled there)."""
        self.backend = backend
        self.snapshot = snapshot
        self.width = width
        self.height = height
        self._lock = threading.Lock()  # the recorded frame, for readers
        self._backend_lock = threading.Lock()  # serialises backend calls, in record order
        self._image = Image.new("RGB", (width, height))
        self._digest = b""
        self._png: bytes | None = None
        self.pushed = 0

    def push(self, image: Image.Image) -> bool:
        """Show ``image`` if it differs from the current frame; True if it was pushed."""
        digest = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        with self._backend_lock:
            with self._lock:
                if digest == self._digest:
                    return False
                self._digest = digest
                self._image = image
                self._png = None
                self.pushed += 1
            self.backend.show(image)
        if self.snapshot is not None:
            self.snapshot.offer(image)
        return True

    def close(self) -> None:
        """Flush a frame file write that is still waiting."""
        if self.snapshot is not None:
            self.snapshot.close()

    def set_brightness(self, percent: int) -> None:
        with self._backend_lock:
            self.backend.set_brightness(percent)

    def blank(self) -> bool:
        return self.push(Image.new("RGB", (self.width, self.height)))

    def image(self) -> Image.Image:
        with self._lock:
            return self._image.copy()

    def png(self) -> bytes:
        with self._lock:
            if self._png is None:
                self._png = encode_png(self._image)
            return self._png
