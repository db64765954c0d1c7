"""What the hardware and emulator backends share: an ``rgbmatrix``-style
``RGBMatrix`` driven through a double-buffered frame canvas (RGBMatrixEmulator
mirrors the rpi-rgb-led-matrix API)."""

from __future__ import annotations

from typing import Any

from PIL import Image

from ledmatrix_mqtt.core.config_model import DisplayConfig


def matrix_options(module: Any, display: DisplayConfig) -> Any:
    """``module.RGBMatrixOptions()`` with the panel geometry and start-up brightness."""
    options = module.RGBMatrixOptions()
    options.rows = display.rows
    options.cols = display.cols
    options.chain_length = display.chain_length
    options.parallel = display.parallel
    options.brightness = display.brightness
    return options


class CanvasBackend:
    """``show`` and ``set_brightness`` for a backend holding ``_matrix`` and ``_canvas``."""

    _matrix: Any
    _canvas: Any

    def show(self, image: Image.Image) -> None:
        self._canvas.SetImage(image)
        self._canvas = self._matrix.SwapOnVSync(self._canvas)

    def set_brightness(self, percent: int) -> None:
        self._matrix.brightness = percent
        self._canvas.brightness = percent
