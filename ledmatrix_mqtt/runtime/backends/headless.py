"""Pillow-only backend: keeps the frame, optionally snapshots it to a PNG file.

The snapshot (``<state_dir>/frames/current.png``) is written at most once per
``min_interval`` seconds and only for new frames, so a panel-less machine can
watch the rotation without paying for every scrolling frame. A frame that
comes too soon is written when the interval is over (by a timer), so the file
always catches up with the panel. A failed write is logged, never raised.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path

from PIL import Image

from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_bytes

_LOG = logging.getLogger(__name__)


class HeadlessBackend:
    name = "headless"

    def __init__(
        self, width: int, height: int, snapshot: Path | None = None, min_interval: float = 1.0
    ) -> None:
        self.width = width
        self.height = height
        self.brightness = 100
        self.last: Image.Image = Image.new("RGB", (width, height))
        self.frames_shown = 0
        self._snapshot = snapshot
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._written_at = -min_interval
        self._pending: Image.Image | None = None
        self._timer: threading.Timer | None = None

    def show(self, image: Image.Image) -> None:
        self.last = image
        self.frames_shown += 1
        if self._snapshot is None:
            return
        with self._lock:
            self._pending = image
            if self._timer is not None:
                return  # the scheduled write will take this frame
            delay = self._written_at + self._min_interval - time.monotonic()
            if delay > 0:
                self._timer = threading.Timer(delay, self._flush)
                self._timer.daemon = True
                self._timer.start()
                return
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            image, self._pending, self._timer = self._pending, None, None
            self._written_at = time.monotonic()
        if image is None or self._snapshot is None:
            return
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        try:
            atomic_write_bytes(self._snapshot, buffer.getvalue())
        except StorageFailed as exc:
            _LOG.debug("frame snapshot failed: %s", exc.message)

    def set_brightness(self, percent: int) -> None:
        self.brightness = percent

    def clear(self) -> None:
        self.show(Image.new("RGB", (self.width, self.height)))

    def close(self) -> None:
        """Write the last frame if its snapshot is still waiting."""
        with self._lock:
            timer = self._timer
        if timer is not None:
            timer.cancel()
            self._flush()
