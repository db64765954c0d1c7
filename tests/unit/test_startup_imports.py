"""What the service imports before it can go online.

The install/update path (packaging, importlib.metadata) and schema checking
(jsonschema) load on first use: importing them costs about a second and 11 MiB on a
Pi-class CPU, and the service does not need them to come online. ``requests`` and
``urllib3`` are for LEDMatrix plugins only (the store uses ``http.client``):
``tests/integration/test_http_transport.py`` checks a store fetch leaves them unloaded.
"""

from __future__ import annotations

import subprocess
import sys

DEFERRED = ("requests", "urllib3", "jsonschema", "packaging", "importlib.metadata")
# our own modules that reaching ``online`` does not need: built or imported on first use
DEFERRED_OWN = (
    "ledmatrix_mqtt.store.installer",
    "ledmatrix_mqtt.store.archive",
    "ledmatrix_mqtt.store.deps",
    "ledmatrix_mqtt.store.fetch",
    "ledmatrix_mqtt.store.install_rules",
    "ledmatrix_mqtt.store.removal",
    "ledmatrix_mqtt.store.reconciler",
    "ledmatrix_mqtt.core.reconcile",
    "ledmatrix_mqtt.runtime.compat.services",
    "ledmatrix_mqtt.runtime.cache",
    "ledmatrix_mqtt.mqtt.codec",
    "ledmatrix_mqtt.mqtt.commands",
    "ledmatrix_mqtt.mqtt.command_args",
    "ledmatrix_mqtt.mqtt.commanding",
    "ledmatrix_mqtt.mqtt.handlers",
    "ledmatrix_mqtt.mqtt.dedup",
)


def loaded_by(imports: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has loaded after ``import <imports>``."""
    probe = f"import sys, {imports}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_service_modules_leave_the_install_stack_and_jsonschema_unloaded() -> None:
    loaded = loaded_by("ledmatrix_mqtt.cli.main, ledmatrix_mqtt.app", DEFERRED)
    assert loaded == "", f"loaded at import time: {loaded}"


def test_service_modules_leave_the_store_machinery_command_path_and_compat_layer_unloaded() -> None:
    loaded = loaded_by("ledmatrix_mqtt.app", DEFERRED_OWN)
    assert loaded == "", f"loaded at import time: {loaded}"
