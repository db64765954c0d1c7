"""Pillow-only backend: keeps the last frame in memory (tests, panel-less machines).

The frame file every backend gets (``<state_dir>/frames/current.png``) is
written by ``FrameStore`` through ``runtime.snapshot``, not here.
"""

from __future__ import annotations

from PIL import Image


class HeadlessBackend:
    name = "headless"

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.brightness = 100
        self.last: Image.Image = Image.new("RGB", (width, height))
        self.frames_shown = 0

    def show(self, image: Image.Image) -> None:
        self.last = image
        self.frames_shown += 1

    def set_brightness(self, percent: int) -> None:
        self.brightness = percent

    def emitted(self) -> Image.Image:
        """The light a panel gives off for the last frame: each channel scaled by the
        brightness, as the panel's PWM does (the published frame stays unscaled)."""
        level = self.brightness
        return Image.eval(self.last, lambda v: v * level // 100)

    def clear(self) -> None:
        self.show(Image.new("RGB", (self.width, self.height)))

    def close(self) -> None:
        """Nothing to release."""
