"""The one small interface every panel backend implements."""

from __future__ import annotations

from typing import Protocol

from PIL import Image


class PanelBackend(Protocol):
    """Shows finished frames. While the display runs, ``FrameStore`` serialises the calls."""

    name: str

    def show(self, image: Image.Image) -> None:
        """Display ``image`` (RGB, panel size)."""
        ...

    def set_brightness(self, percent: int) -> None: ...

    def clear(self) -> None:
        """Blank the panel (power off, shutdown)."""
        ...

    def close(self) -> None: ...


class BackendUnavailable(Exception):
    """A backend cannot run here; ``reason`` says why (for the ``auto`` log line)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
