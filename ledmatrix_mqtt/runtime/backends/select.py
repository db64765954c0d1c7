"""Pick the panel backend; ``auto`` falls back hardware -> emulator -> headless.

``auto`` only takes the hardware backend when ``rgbmatrix`` imports *and* the
device tree says Raspberry Pi (the binding imports fine on x86 and segfaults
when used). Every choice is logged with the reason.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from ledmatrix_mqtt.core.config_model import DisplayConfig
from ledmatrix_mqtt.errors import DisplayUnavailable
from ledmatrix_mqtt.runtime.backends.base import BackendUnavailable, PanelBackend
from ledmatrix_mqtt.runtime.backends.hardware import DEVICE_MODEL, is_raspberry_pi
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend

_LOG = logging.getLogger(__name__)


def _headless(display: DisplayConfig, state_dir: Path) -> PanelBackend:
    del state_dir  # the frame file is written for every backend (runtime.snapshot)
    return HeadlessBackend(display.width, display.height)


def _emulator(display: DisplayConfig, state_dir: Path) -> PanelBackend:
    from ledmatrix_mqtt.runtime.backends.emulator import EmulatorBackend

    return EmulatorBackend(display, state_dir / "emulator")


def _hardware(display: DisplayConfig, model_file: Path) -> PanelBackend:
    from ledmatrix_mqtt.runtime.backends.hardware import HardwareBackend, import_rgbmatrix

    module = import_rgbmatrix()
    if not is_raspberry_pi(model_file):
        raise BackendUnavailable(f"{model_file} does not name a Raspberry Pi")
    return HardwareBackend(display, module)


def select_backend(
    display: DisplayConfig, state_dir: Path, *, model_file: Path = DEVICE_MODEL
) -> PanelBackend:
    """The backend for ``display.backend``.

    A failing explicit choice raises ``DisplayUnavailable`` (one line for the
    user, no traceback); ``auto`` logs one line per fallback and ends at headless.
    """
    if display.backend == "headless":
        return _headless(display, state_dir)
    try:
        if display.backend == "emulator":
            return _emulator(display, state_dir)
        if display.backend == "hardware":
            return _hardware(display, model_file)
    except BackendUnavailable as exc:
        raise DisplayUnavailable(f"display.backend {display.backend}: {exc.reason}") from exc
    reasons = []
    try:
        backend = _hardware(display, model_file)
        _LOG.info("display backend: hardware (rgbmatrix on a Raspberry Pi)")
        return backend
    except BackendUnavailable as exc:
        reasons.append(f"hardware: {exc.reason}")
    if importlib.util.find_spec("RGBMatrixEmulator") is not None:
        try:
            backend = _emulator(display, state_dir)
            _LOG.info("display backend: emulator (%s adapter); %s",
                      display.emulator_adapter, "; ".join(reasons))  # fmt: skip
            return backend
        except BackendUnavailable as exc:
            reasons.append(f"emulator: {exc.reason}")
    else:
        reasons.append("emulator: RGBMatrixEmulator is not installed")
    _LOG.info("display backend: headless; %s", "; ".join(reasons))
    return _headless(display, state_dir)
