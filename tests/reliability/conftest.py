"""Service-level fault fixtures: the real ``Service`` on a real mosquitto and FakeGitHub.

``ServiceEnv`` owns a broker, a fake GitHub, a state dir and a ``config.yaml``
written the way a user would write it; ``start()`` runs the real
:class:`ledmatrix_mqtt.app.Service` (real store, headless display, real MQTT
front end) and ``probe`` is a plain paho client that sees everything.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.app import Service
from ledmatrix_mqtt.configfile import load_config
from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker, Probe
from tests.support.plugin_factory import plugin_files, registry_entry

ROOT = "ledmatrix/testpanel"
_TX = itertools.count(1)


def write_config(
    path: Path,
    *,
    state_dir: Path,
    broker_port: int,
    store: dict[str, Any],
    plugins: dict[str, Any] | None = None,
    display: dict[str, Any] | None = None,
) -> Path:
    """A user-style config.yaml (with a comment and an unrelated user key)."""
    doc: dict[str, Any] = {
        "device": {"id": "testpanel", "name": "Test Panel"},
        "state_dir": str(state_dir),
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "embedded": False, "keepalive": 5},
        "store": store,
        "display": {"backend": "headless", "default_duration": 2, **(display or {})},
        "plugins": plugins or {"clock": {"enabled": True, "format_24h": False}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by a person\n" + yamlio.dump(doc))
    return path


def responses(probe: Probe, command: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in probe.on(f"{ROOT}/response/{command}")]


def call(
    probe: Probe, command: str, payload: dict[str, Any] | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """Send one command over ``probe`` and wait for its response (matched by transaction)."""
    tx = f"rel-{next(_TX)}"
    probe.publish(f"{ROOT}/cmd/{command}", json.dumps({**(payload or {}), "transaction": tx}))

    def mine(topic: str, body: bytes, _retain: bool) -> bool:
        return topic == f"{ROOT}/response/{command}" and json.loads(body)["transaction"] == tx

    _topic, body, _retain = probe.wait_for(mine, timeout)
    return dict(json.loads(body))


@dataclass
class ServiceEnv:
    root: Path
    fake: FakeGitHub
    broker: MosquittoBroker
    plugins: dict[str, Any] | None = None
    display: dict[str, Any] | None = None
    services: list[Service] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "etc" / "config.yaml"

    def write_config(self, store: dict[str, Any] | None = None) -> Path:
        return write_config(
            self.config_path,
            state_dir=self.state_dir,
            broker_port=self.broker.port,
            store=store or self.fake.store_config(),
            plugins=self.plugins,
            display=self.display,
        )

    def publish_plugin(self, plugin_id: str, version: str = "1.0.0", **files: Any) -> None:
        """Put ``plugin_id`` in the fake registry and its repo (replacing older versions)."""
        self.fake.add_repo("tests", plugin_id, plugin_files(plugin_id, version, **files))
        others = [e for e in self.fake.registry["plugins"] if e["id"] != plugin_id]
        entry = registry_entry(self.fake, plugin_id, latest_version=version)
        self.fake.set_registry([*others, entry])

    def start(self, *, online: bool = True, reconcile: bool = True) -> Service:
        if not self.config_path.exists():
            self.write_config()
        svc = Service(load_config(self.config_path), startup_reconcile=reconcile)
        self.services.append(svc)
        svc.start()
        if online:
            assert svc.frontend is not None
            assert svc.frontend.wait_online(15), svc.frontend.connection_error
        return svc

    def probe(self, topic_filter: str = "#") -> Probe:
        probe = Probe(self.broker, topic_filter)
        probe.client.reconnect_delay_set(0.05, 0.5)
        self.probes.append(probe)
        return probe

    def stop_services(self) -> None:
        for svc in self.services:
            svc.stop()
        self.services.clear()

    def close(self) -> None:
        for probe in self.probes:
            probe.close()
        self.stop_services()
        self.broker.stop()


@pytest.fixture
def env(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[ServiceEnv]:
    broker = MosquittoBroker(tmp_path / "broker").start()
    service_env = ServiceEnv(tmp_path, fake_github, broker)
    try:
        yield service_env
    finally:
        service_env.close()


def leftovers(state_dir: Path, *, temps: bool = True) -> list[str]:
    """Debris of interrupted operations: staging/rollback/journal entries and temp files.

    ``temps=False`` while a service runs (its atomic writes have short-lived temps).
    """
    out: list[str] = []
    for name in ("staging", "rollback", "journal"):
        folder = state_dir / name
        if folder.exists():
            out += [f"{name}/{p.name}" for p in folder.iterdir()]
    if temps:
        out += [str(p.relative_to(state_dir)) for p in state_dir.rglob(".*.tmp")]
    return out


def version_on_disk(state_dir: Path, plugin_id: str) -> str | None:
    path = state_dir / "plugins" / plugin_id / "manifest.json"
    if not path.exists():
        return None
    return str(json.loads(path.read_text())["version"])
