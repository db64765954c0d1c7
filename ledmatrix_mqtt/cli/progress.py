"""A one-line progress bar on a terminal (silent when stderr is not a TTY)."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()
        self._last = ""

    def update(self, stage: str, percent: int, message: str = "") -> None:
        if not self.enabled:
            return
        percent = max(0, min(100, int(percent)))
        filled = self.width * percent // 100
        bar = "#" * filled + "." * (self.width - filled)
        line = f"\r[{bar}] {percent:3d}% {stage:<12} {message[:40]}"
        if line != self._last:
            self.stream.write(line)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()
