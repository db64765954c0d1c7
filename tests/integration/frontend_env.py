"""The MqttFrontend test rig: a real mosquitto and the front end over fake store/display ports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledmatrix_mqtt.mqtt.client import Backoff
from ledmatrix_mqtt.mqtt.frontend import FrontendTuning, MqttFrontend
from ledmatrix_mqtt.mqtt.remote import RemoteClient
from tests.support.fake_ports import FakeDisplay, FakeStore
from tests.support.mosquitto import MosquittoBroker, Probe, app_config, retained_snapshot

FAST = FrontendTuning(
    rate=1000.0,
    burst=1000.0,
    frame_interval=0.1,
    birth_delay=(0.05, 0.1),
    progress_interval=0.0,
    backoff=Backoff(0.1, 0.5, 2.0),
)
ROOT = "ledmatrix/testpanel"


@dataclass
class Service:
    broker: MosquittoBroker
    store: FakeStore
    display: FakeDisplay
    frontend: MqttFrontend
    probe: Probe
    remote: RemoteClient
    state_dir: Path

    def call(self, command: str, payload: dict | None = None, timeout: float = 5.0) -> dict:
        return self.remote.call(command, payload or {}, timeout=timeout)

    def restart_frontend(self, tuning: FrontendTuning = FAST, **mqtt: object) -> None:
        self.frontend.stop()
        config = app_config(self.broker, self.state_dir, **mqtt)
        self.frontend = MqttFrontend(
            config,
            self.store,
            self.display,
            state_dir=self.state_dir,
            version="9.9.9",
            tuning=tuning,
        )
        self.frontend.start()
        assert self.frontend.wait_online(10)


def make_service(
    broker: MosquittoBroker, state_dir: Path, tuning: FrontendTuning = FAST, **mqtt: object
) -> Service:
    store = FakeStore()
    store.add_installed("clock-simple", "1.0.0")
    display = FakeDisplay(store)
    config = app_config(broker, state_dir, **mqtt)
    frontend = MqttFrontend(
        config, store, display, state_dir=state_dir, version="9.9.9", tuning=tuning
    )
    frontend.start()
    assert frontend.wait_online(10), frontend.connection_error
    probe = Probe(broker, "#", v5=config.mqtt.protocol == "5")
    return Service(broker, store, display, frontend, probe, RemoteClient(config), state_dir)


@pytest.fixture
def service(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Service]:
    svc = make_service(broker, tmp_path / "state")
    yield svc
    svc.probe.close()
    svc.frontend.stop()


def retained(broker: MosquittoBroker, topic_filter: str = "#") -> dict[str, bytes]:
    return retained_snapshot(broker, topic_filter, settle=0.3)
