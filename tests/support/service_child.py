"""A child-process entry point that runs the real Service and one store operation.

Used by the SIGKILL crash tests: ``python -m tests.support.service_child CONFIG OP PLUGIN``
starts :class:`ledmatrix_mqtt.app.Service` on ``CONFIG`` (no start-up reconcile,
so the operation is the only thing running), runs ``OP`` (install, update or
uninstall) on ``PLUGIN`` through ``service.store``, prints the result as JSON
and exits 0. If ``LEDMATRIX_TEST_CRASH_AT`` names a crash point, the process
SIGKILLs itself when that point is reached (exit status -9 seen by the parent).

Crash points (only this test entry point reads the variable):

* the installer's own hooks (``downloaded`` ... ``aside_deleted``, see
  ``store/swap.py`` and ``store/installer.py``), injected by building the
  store with ``Installer(..., crash_hook=...)``;
* ``uninstall_recorded`` (after the uninstall intent is on disk),
  ``config_block_removed`` (after the config block is gone) and
  ``config_enabled`` (after an install enabled the plugin in the config);
* ``config_before_replace`` / ``config_after_replace`` around the atomic rename
  of ``config.yaml`` (the temp file is written and fsynced, not yet renamed),
  and ``records_before_replace`` before ``records/uninstalled.json`` is renamed.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CRASH_ENV = "LEDMATRIX_TEST_CRASH_AT"
OPERATIONS = ("install", "update", "uninstall")
_REPLACE_POINTS = {"config.yaml": "config", "uninstalled.json": "records"}


def crash_point(name: str) -> None:
    """SIGKILL this process if ``name`` is the point the test asked for."""
    if os.environ.get(CRASH_ENV) == name:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _after(method: Callable[..., Any], point: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        crash_point(point)
        return result

    return wrapper


def install_crash_points() -> None:
    """Patch the crash points in (this process only)."""
    from ledmatrix_mqtt.config_editor import ConfigEditor
    from ledmatrix_mqtt.store import installer
    from ledmatrix_mqtt.store.records import UninstallRecords

    # the store builds its installer on first use, from the installer module's name
    installer.Installer = functools.partial(installer.Installer, crash_hook=crash_point)  # type: ignore[misc]
    UninstallRecords.record_uninstalled = _after(  # type: ignore[method-assign]
        UninstallRecords.record_uninstalled, "uninstall_recorded"
    )
    ConfigEditor.remove_block = _after(ConfigEditor.remove_block, "config_block_removed")  # type: ignore[method-assign]
    ConfigEditor.set_enabled = _after(ConfigEditor.set_enabled, "config_enabled")  # type: ignore[method-assign]
    real_replace = os.replace

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        kind = _REPLACE_POINTS.get(Path(dst).name)
        if kind:
            crash_point(f"{kind}_before_replace")
        real_replace(src, dst, **kwargs)
        if kind:
            crash_point(f"{kind}_after_replace")

    os.replace = replace


def main(argv: list[str]) -> int:
    config_path, operation, plugin_id = argv
    if operation not in OPERATIONS:
        raise SystemExit(f"operation must be one of {OPERATIONS}")
    install_crash_points()
    from ledmatrix_mqtt.app import Service
    from ledmatrix_mqtt.configfile import load_config
    from ledmatrix_mqtt.errors import LedMatrixError

    service = Service(load_config(config_path), startup_reconcile=False)
    service.start()
    try:
        assert service.store is not None
        result = getattr(service.store, operation)(plugin_id)
        print(json.dumps({"status": "ok", "result": repr(result)}))
    except LedMatrixError as exc:
        print(json.dumps({"status": "error", "error": exc.to_dict()}))
    finally:
        service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
