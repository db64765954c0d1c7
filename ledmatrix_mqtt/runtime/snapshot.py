"""``<state_dir>/frames/current.png``: the panel's current frame as a file, for every backend.

Written only for a frame that differs from the last one offered, and at most
once per ``min_interval`` seconds, so a scrolling plugin costs one write per
interval, not one per frame (SD cards wear with writes). A frame that comes
too soon is written when the interval is over (by a timer), so the file
always catches up with the panel. A failed write is logged, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PIL import Image

from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_bytes
from ledmatrix_mqtt.runtime.png import encode_png

_LOG = logging.getLogger(__name__)
SNAPSHOT_NAME = Path("frames") / "current.png"
SNAPSHOT_INTERVAL_S = 1.0  # desktop backends: a live-ish preview
HARDWARE_SNAPSHOT_INTERVAL_S = 10.0  # on the Pi's SD card: fewer writes


class FrameSnapshot:
    """Writes offered frames to ``path``, throttled. Thread-safe."""

    def __init__(self, path: Path, min_interval: float = SNAPSHOT_INTERVAL_S) -> None:
        self.path = path
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._written_at = -min_interval
        self._pending: Image.Image | None = None
        self._timer: threading.Timer | None = None
        self.writes = 0
        self.bytes_written = 0

    def offer(self, image: Image.Image) -> None:
        """A new frame is on the panel; write it now or when the interval is over."""
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
        if image is None:
            return
        png = encode_png(image)
        try:
            atomic_write_bytes(self.path, png)
        except StorageFailed as exc:
            _LOG.debug("frame snapshot failed: %s", exc.message)
            return
        with self._lock:
            self.writes += 1
            self.bytes_written += len(png)

    def close(self) -> None:
        """Write the last frame if it is still waiting for its turn."""
        with self._lock:
            timer = self._timer
        if timer is not None:
            timer.cancel()
            self._flush()
