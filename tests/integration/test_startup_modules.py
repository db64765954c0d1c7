"""What the real service has imported once it is online and its built-ins have loaded.

A fresh interpreter runs ``Service.start()`` against a real broker (no start-up
reconcile, only the built-in plugins, no command sent): the install/reconcile
machinery, the command path and the LEDMatrix compatibility layer are still
unloaded, so start-up paid for none of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.mosquitto import MosquittoBroker
from tests.unit.test_startup_imports import DEFERRED_OWN

_PROBE = """
import sys
from ledmatrix_mqtt.app import Service
from ledmatrix_mqtt.configfile import load_config

service = Service(load_config(sys.argv[1]), startup_reconcile=False)
service.start()
try:
    assert service.frontend is not None and service.display is not None
    assert service.frontend.wait_online(30), service.frontend.connection_error
    assert service.display.wait_loaded(30), "built-ins still loading"
    print(",".join(m for m in sys.argv[2].split(",") if m in sys.modules))
finally:
    service.stop()
"""


def test_online_service_has_not_loaded_the_store_machinery_or_the_command_path(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "device: {id: probe, name: Probe}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}, embedded: false}}\n"
        "store: {registry_url: 'http://127.0.0.1:9/plugins.json'}\n"
        "display: {backend: headless}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(config), ",".join(DEFERRED_OWN)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"loaded by start-up: {done.stdout.strip()}"
