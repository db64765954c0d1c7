"""Pillow-only backend: keeps the frame, optionally snapshots it to a PNG file.

The snapshot (``<state_dir>/frames/current.png``) is written at most once per
``min_interval`` seconds and only for new frames, so a panel-less machine can
watch the rotation without paying for every scrolling frame.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PIL import Image

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
        self._written_at = 0.0

    def show(self, image: Image.Image) -> None:
        self.last = image
        self.frames_shown += 1
        now = time.monotonic()
        if self._snapshot is not None and now - self._written_at >= self._min_interval:
            self._written_at = now
            self._write(image)

    def _write(self, image: Image.Image) -> None:
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        try:
            atomic_write_bytes(self._snapshot, buffer.getvalue())  # type: ignore[arg-type]
        except OSError as exc:
            _LOG.debug("frame snapshot failed: %s", exc)

    def set_brightness(self, percent: int) -> None:
        self.brightness = percent

    def clear(self) -> None:
        self.show(Image.new("RGB", (self.width, self.height)))

    def close(self) -> None:
        """Nothing to release."""
