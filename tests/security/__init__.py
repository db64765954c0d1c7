"""Security evidence against the real ``Service``: secrets, broker auth/TLS, install policy.

Shared helpers live here: a config.yaml + secrets.yaml writer for a real
``Service`` pointed at a real mosquitto and the FakeGitHub server, and a
broker-wide recorder that keeps every byte published during a test.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.app import Service
from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.core.config_model import AppConfig
from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker, Probe

ROOT = "ledmatrix/secpanel"


def write_config(
    folder: Path,
    broker: MosquittoBroker,
    fake: FakeGitHub,
    *,
    mqtt: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
    plugins: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
) -> Path:
    """config.yaml (and secrets.yaml when given) for a headless Service; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    mqtt_block: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "embedded": False,
        "keepalive": 5,
    }
    if broker.tls_files:
        mqtt_block["tls"] = {"enabled": True, "ca_certs": str(broker.tls_files.ca)}
    mqtt_block.update(mqtt or {})
    doc = {
        "device": {"id": "secpanel", "name": "Security Panel", "timezone": "UTC"},
        "state_dir": str(folder / "state"),
        "log_level": log_level,
        "mqtt": mqtt_block,
        "store": {**fake.store_config(), **(store or {})},
        "display": {"backend": "headless"},
        "plugins": dict(plugins or {}),
    }
    path = folder / "config.yaml"
    path.write_text(yamlio.dump(doc))
    if secrets is not None:
        (folder / "secrets.yaml").write_text(yamlio.dump(dict(secrets)))
    return path


@contextlib.contextmanager
def running_service(config_path: Path) -> Iterator[tuple[Service, AppConfig]]:
    """A started Service (stopped on exit, whatever happens)."""
    config = load_config(config_path)
    service = Service(config)
    service.start()
    try:
        yield service, config
    finally:
        service.stop()


def spawn_run(config_path: Path, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """``ledmatrix-mqtt --config CONFIG run`` as a user starts it; stdout and stderr on pipes."""
    exe = Path(sys.executable).with_name("ledmatrix-mqtt")
    return subprocess.Popen(
        [str(exe), "--config", str(config_path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
    )


@dataclass
class Recorder:
    """Every publication on the broker seen by one or more ``#`` probes."""

    probes: list[Probe] = field(default_factory=list)

    @classmethod
    def start(cls, broker: MosquittoBroker, *, username: str = "", password: str = "") -> Recorder:
        filters = ("#", "homeassistant/#")
        return cls([Probe(broker, f, username=username, password=password) for f in filters])

    def messages(self) -> list[tuple[str, bytes, bool]]:
        out: list[tuple[str, bytes, bool]] = []
        for probe in self.probes:
            out.extend(probe.messages)
        return out

    def blob(self) -> bytes:
        """Topics and payloads, all concatenated: what a grep for a secret searches."""
        return b"\n".join(t.encode() + b" " + p for t, p, _ in self.messages())

    def close(self) -> None:
        for probe in self.probes:
            probe.close()
