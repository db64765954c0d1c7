"""The pieces the Home Assistant suite assembles: the real service as a child process,
a plugin store, and read-outs of the broker's retained state and of HA's registries.

This module runs under HA's Python 3.13 virtualenv, so it imports nothing from
``ledmatrix_mqtt``: the service is the ``ledmatrix-mqtt`` console script of the
project's own ``.venv`` (``LEDMATRIX_CLI``), driven only through its config file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.support.mosquitto import MosquittoBroker, Probe
from tests.support.plugin_factory import PluginShelf

ROOT_DIR = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("LEDMATRIX_CLI", ROOT_DIR / ".venv" / "bin" / "ledmatrix-mqtt"))
DEVICE_ID = "hapanel"
DEVICE_NAME = "HA Panel"
BASE = f"ledmatrix/{DEVICE_ID}"
PREFIX = "homeassistant"
IDENTIFIER = f"ledmatrix_{DEVICE_ID}"
BUILTINS = ("clock", "status", "text")
MARKER = "ha-suite/marker"
STORE_PLUGIN = "weather-lite"


def write_config(folder: Path, broker: MosquittoBroker, store: PluginShelf) -> Path:
    """A config file as a user writes it: external broker, headless panel, test store.

    Written as JSON, which is YAML 1.2 and read as is by the service: this virtualenv
    has neither the project nor its YAML library (ruamel).
    """
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "device": {"id": DEVICE_ID, "name": DEVICE_NAME, "timezone": "UTC"},
        "state_dir": str(folder / "state"),
        "log_level": "INFO",
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "embedded": False, "keepalive": 5},
        "store": store.fake.store_config(),
        # A long duration keeps the rotation still, so a state change is the control's doing.
        "display": {"backend": "headless", "default_duration": 600},
        "plugins": {pid: {"enabled": True} for pid in BUILTINS},
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


class ServiceProcess:
    """``ledmatrix-mqtt run`` as a child process of the test, stopped by PID."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.log_path = config_path.with_name("service.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        if not CLI.exists():
            raise RuntimeError(f"{CLI} is missing: run scripts/test-ha (it sets LEDMATRIX_CLI)")
        env = {k: v for k, v in os.environ.items() if k not in ("LEDMATRIX_CONFIG", "PYTHONPATH")}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CLI), "--config", str(self.config_path), "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.config_path.parent,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Watch:
    """Everything under ``ledmatrix/`` and ``homeassistant/``, as the broker delivers it."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.broker = broker
        self.probe = Probe(broker, "#")

    def latest(self, topic: str) -> bytes | None:
        seen = self.probe.on(topic)
        return seen[-1] if seen else None

    def latest_json(self, topic: str) -> Any:
        raw = self.latest(topic)
        return json.loads(raw) if raw else None

    def close(self) -> None:
        self.probe.close()


def retained(broker: MosquittoBroker, topic: str, timeout: float = 5.0) -> bytes:
    """The retained payload of ``topic`` as a new subscriber gets it (``b""``: none)."""
    probe = Probe(broker, topic)
    try:
        # The broker sends the retained message right after the first subscription, so a
        # marker this client publishes afterwards arrives after it: no guessed delay.
        probe.client.subscribe(MARKER, qos=1)
        probe.publish(MARKER, b"x")
        probe.wait_for(lambda t, _p, _r: t == MARKER, timeout)
        hits = [p for t, p, r in probe.messages if t == topic and r]
        return hits[-1] if hits else b""
    finally:
        probe.close()


def retained_json(broker: MosquittoBroker, topic: str) -> Any:
    raw = retained(broker, topic)
    return json.loads(raw) if raw else None


def discovered_unique_ids(watch: Watch) -> dict[str, str]:
    """unique_id -> component of every live discovery config of our device.

    Reads both per-entity configs and a device-based config (``cmps``), whichever
    the service publishes; an emptied config means "removed".
    """
    configs: dict[str, bytes] = {}
    with watch.probe._cond:
        for topic, payload, _r in watch.probe.messages:
            if topic.startswith(f"{PREFIX}/") and topic.endswith("/config"):
                configs[topic] = payload
    out: dict[str, str] = {}
    for topic, payload in configs.items():
        if not payload:
            continue
        body = json.loads(payload)
        parts = topic.split("/")
        if parts[1] == "device":
            if parts[2] != DEVICE_ID:
                continue
            for comp in (body.get("cmps") or body.get("components") or {}).values():
                out[_unique_id(comp)] = comp.get("platform") or comp.get("p")
        elif len(parts) >= 4 and parts[2] == DEVICE_ID:
            out[_unique_id(body)] = parts[1]
    return out


def _unique_id(config: dict[str, Any]) -> str:
    return str(config.get("unique_id") or config.get("uniq_id"))
