"""DisplayControllers on the real headless backend, built by a test and stopped after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from ledmatrix_mqtt.runtime.controller import DisplayController


@contextmanager
def headless_controllers(
    state_dir: Path, device: DeviceConfig, **fixed: Any
) -> Iterator[Callable[[Mapping[str, Any]], DisplayController]]:
    """A builder ``build(display, **controller)``: a DisplayController on a headless backend
    for ``DisplayConfig(backend="headless", **display)``, given ``fixed`` and ``controller``
    as keyword arguments. Every controller built is stopped on exit."""
    made: list[DisplayController] = []

    def build(display: Mapping[str, Any], **controller: Any) -> DisplayController:
        cfg = DisplayConfig(backend="headless", **display)
        backend = HeadlessBackend(cfg.width, cfg.height)
        made.append(
            DisplayController(
                cfg, device=device, state_dir=state_dir, backend=backend, **fixed, **controller
            )
        )
        return made[-1]

    try:
        yield build
    finally:
        for controller in made:
            controller.stop()
