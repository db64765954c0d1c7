"""RGBMatrixEmulator backend (desktop preview), with its side effects contained.

RGBMatrixEmulator 0.20 reads/writes ``./emulator_config.json`` at import and
whenever ``RGBMatrixOptions()`` is built, calls ``sys.exit`` when an adapter
fails to load, keeps adapters as class singletons, and its browser adapter
listens on every interface and replaces SIGINT/SIGTERM handlers. So:

- the config is written by us into ``<state_dir>/emulator/``, and the process
  only ``chdir``s there around the import and the options construction
  (under a lock, restoring the previous cwd);
- ``allow_adapter_fallback`` is off and ``SystemExit`` is turned into
  ``BackendUnavailable``;
- the browser server is started by our own ``run`` bound to
  ``display.emulator.host`` (127.0.0.1 by default) and never installs signal
  handlers, so the service's SIGTERM handling is preserved.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.config_model import DisplayConfig
from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json
from ledmatrix_mqtt.runtime.backends.base import BackendUnavailable
from ledmatrix_mqtt.runtime.backends.canvas import CanvasBackend, matrix_options

_LOG = logging.getLogger(__name__)
_CWD_LOCK = threading.Lock()


def emulator_config(display: DisplayConfig) -> dict[str, Any]:
    return {
        "pixel_outline": 0,
        "pixel_size": 8 if display.emulator_adapter == "browser" else 1,
        "pixel_style": "square",
        "pixel_glow": 0,
        "display_adapter": display.emulator_adapter,
        "allow_adapter_fallback": False,
        "icon_path": None,
        "emulator_title": "ledmatrix-mqtt",
        "browser": {
            "_comment": "Written by ledmatrix-mqtt; bound to display.emulator.host.",
            "port": display.emulator_port,
            "target_fps": 20,
            "fps_display": False,
            "quality": 80,
            "image_border": True,
            "debug_text": False,
            "image_format": "PNG",
            "open_immediately": False,
        },
        "log_level": "warning",
    }


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    with _CWD_LOCK:
        previous = os.getcwd()
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(previous)


def _bind_browser_to(host: str) -> None:
    """Replace the browser server's ``run`` with one that binds ``host`` and adds no signals."""
    server_module = importlib.import_module("RGBMatrixEmulator.adapters.browser_adapter.server")
    tornado_ioloop = importlib.import_module("tornado.ioloop")
    server_cls = server_module.Server

    def run_on_host(self: Any) -> None:
        inst = self.instance
        if inst.listening:
            return
        inst.app.listen(inst.adapter.options.browser.port, address=host)  # OSError: port taken
        inst.listening = True
        inst.io_loop = tornado_ioloop.IOLoop.current()
        threading.Thread(target=inst.io_loop.start, name="RGBMEServerThread", daemon=True).start()

    server_cls.run = run_on_host


class EmulatorBackend(CanvasBackend):
    name = "emulator"

    def __init__(self, display: DisplayConfig, folder: Path) -> None:
        self.adapter_name = display.emulator_adapter
        where = f"{display.emulator_host}:{display.emulator_port}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(folder / "emulator_config.json", emulator_config(display))
            with _inside(folder):
                module = importlib.import_module("RGBMatrixEmulator")
                if self.adapter_name == "browser":
                    _bind_browser_to(display.emulator_host)
                self._matrix = module.RGBMatrix(options=matrix_options(module, display))
            self._canvas = self._matrix.CreateFrameCanvas()  # the browser server binds here
        except SystemExit as exc:  # RGBMatrixEmulator exits when an adapter fails
            raise BackendUnavailable(f"emulator adapter {self.adapter_name!r} failed") from exc
        except OSError as exc:
            if self.adapter_name == "browser" and exc.errno == errno.EADDRINUSE:
                raise BackendUnavailable(
                    f"the browser preview address {where} is in use (another instance "
                    "running?); stop it or set display.emulator.port"
                ) from exc
            raise BackendUnavailable(f"RGBMatrixEmulator unusable: {exc}") from exc
        except (ImportError, StorageFailed) as exc:
            raise BackendUnavailable(f"RGBMatrixEmulator unusable: {exc}") from exc
        if self.adapter_name == "browser":
            _LOG.info("browser preview: http://%s/", where)

    @property
    def adapter(self) -> Any:
        """The RGBMatrixEmulator display adapter (tests read frames from the raw adapter)."""
        return self._canvas.display_adapter

    def clear(self) -> None:
        self._canvas.Clear()
        self._canvas = self._matrix.SwapOnVSync(self._canvas)

    def close(self) -> None:
        """The emulator keeps its singletons; nothing can be released safely."""
