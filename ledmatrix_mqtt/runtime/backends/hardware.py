"""hzeller rpi-rgb-led-matrix backend (``rgbmatrix``, built on the Pi; not a pip dependency)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.config_model import DisplayConfig
from ledmatrix_mqtt.runtime.backends.base import BackendUnavailable
from ledmatrix_mqtt.runtime.backends.canvas import CanvasBackend, matrix_options

DEVICE_MODEL = Path("/proc/device-tree/model")


def is_raspberry_pi(model_file: Path = DEVICE_MODEL) -> bool:
    """True if the device tree names a Raspberry Pi (an importable rgbmatrix proves nothing)."""
    try:
        return model_file.read_bytes().startswith(b"Raspberry Pi")
    except OSError:
        return False


def import_rgbmatrix() -> Any:
    try:
        return importlib.import_module("rgbmatrix")
    except ImportError as exc:
        raise BackendUnavailable(f"rgbmatrix is not importable ({exc})") from exc


class HardwareBackend(CanvasBackend):
    name = "hardware"

    def __init__(self, display: DisplayConfig, module: Any | None = None) -> None:
        rgbmatrix = module or import_rgbmatrix()
        options = matrix_options(rgbmatrix, display)
        options.hardware_mapping = display.hardware_mapping
        options.gpio_slowdown = display.gpio_slowdown
        options.drop_privileges = False
        self._matrix = rgbmatrix.RGBMatrix(options=options)
        self._canvas = self._matrix.CreateFrameCanvas()

    def clear(self) -> None:
        self._matrix.Clear()

    def close(self) -> None:
        self._matrix.Clear()
