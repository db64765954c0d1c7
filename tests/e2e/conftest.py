"""The assembled appliance for end-to-end tests: real mosquitto, FakeGitHub, real Service.

Everything here is what a user would set up: a config file on disk (with a
comment the service must keep), a broker, a plugin store, and the service
started from that file. Home Assistant is played by a plain paho client
(``Probe``) that only uses topics and payloads the discovery configs name.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ledmatrix_mqtt.app import Service
from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.core.config_model import AppConfig
from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker, Probe, retained_snapshot
from tests.support.plugin_factory import PluginShelf
from tests.support.waiting import wait_until

DEVICE_ID = "e2epanel"
ROOT = f"ledmatrix/{DEVICE_ID}"
PANEL_SIZE = (64, 32)
BUILTINS = ["clock", "status", "text"]  # what `plugins list` shows on a fresh appliance
FRAME = f"{ROOT}/display/frame"
DISPLAY = f"{ROOT}/state/display"
AMBER = (255, 160, 40)  # the clock's default colour
CLI = Path(sys.executable).with_name("ledmatrix-mqtt")
CONFIG_COMMENT = "# kept by every edit the service makes\n"


@pytest.fixture
def shelf(fake_github: FakeGitHub) -> PluginShelf:
    return PluginShelf(fake_github)


def write_config(
    folder: Path,
    *,
    port: int,
    store: dict[str, Any],
    embedded: bool | str = False,
    display: dict[str, Any] | None = None,
    plugins: dict[str, Any] | None = None,
) -> Path:
    """A config.yaml as a user writes it (plus a comment that must survive edits)."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "device": {"id": DEVICE_ID, "name": "E2E Panel", "timezone": "UTC"},
        "state_dir": str(folder / "state"),
        "log_level": "INFO",
        "mqtt": {"host": "127.0.0.1", "port": port, "embedded": embedded, "keepalive": 5},
        "store": store,
        "display": {"backend": "headless", "default_duration": 1, **(display or {})},
        "plugins": {"clock": {"enabled": True}, **(plugins or {})},
    }
    path = folder / "config.yaml"
    path.write_text(CONFIG_COMMENT + yamlio.dump(document))
    return path


@dataclass
class Appliance:
    """A running service plus the Home Assistant stand-in watching every topic."""

    config_path: Path
    config: AppConfig
    broker: MosquittoBroker
    service: Service
    ha: Probe
    original_config: str = ""

    @property
    def state_dir(self) -> Path:
        return Path(self.config.state_dir)

    def stop(self) -> None:
        """Close the Home Assistant stand-in, then stop the service."""
        self.ha.close()
        self.service.stop()

    def command(self, name: str, payload: dict[str, Any], timeout: float = 20.0) -> dict:
        """Publish a JSON command on ``ROOT/cmd/<name>``; its response envelope."""
        tx = f"e2e-{time.monotonic_ns()}"
        self.ha.publish(f"{ROOT}/cmd/{name}", json.dumps({**payload, "transaction": tx}))
        return wait_json(
            self.ha, f"{ROOT}/response/{name}", lambda d: d.get("transaction") == tx, timeout
        )

    def ha_publish(self, topic: str, payload: str, timeout: float = 20.0) -> dict:
        """Publish ``payload`` verbatim (as Home Assistant does) on a command topic and
        return the next response to that command (HA payloads carry no transaction)."""
        command = topic.rsplit("/", 1)[1]
        assert topic == f"{ROOT}/cmd/{command}", topic
        response_topic = f"{ROOT}/response/{command}"
        seen = len(self.ha.on(response_topic))
        self.ha.publish(topic, payload)
        answered = wait_until(lambda: len(self.ha.on(response_topic)) > seen, timeout)
        assert answered, f"no response on {response_topic}"
        return dict(json.loads(self.ha.on(response_topic)[seen]))

    def retained(self, topic_filter: str = "#") -> dict[str, bytes]:
        return retained_snapshot(self.broker, topic_filter, settle=0.3)


def wait_json(
    probe: Probe, topic: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    """The first JSON object seen on ``topic`` matching ``predicate``."""

    def match(t: str, payload: bytes, _retained: bool) -> bool:
        if t != topic or not payload:
            return False
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        return isinstance(data, dict) and predicate(data)

    _t, payload, _r = probe.wait_for(match, timeout)
    return dict(json.loads(payload))


def decode_png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), data[:16]
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def colours(png: bytes) -> set[tuple[int, int, int]]:
    """Every colour in a PNG frame."""
    image = decode_png(png)
    return {c for _n, c in image.getcolors(image.width * image.height) or []}


def is_blank(image: Image.Image) -> bool:
    return image.getbbox() is None


def start_appliance(config_path: Path, broker: MosquittoBroker) -> Appliance:
    original = config_path.read_text()
    config = load_config(config_path)
    service = Service(config)
    service.start()
    try:
        assert service.frontend is not None
        assert service.frontend.wait_online(15), service.frontend.connection_error
        assert service.reconcile_done.wait(15)
        ha = Probe(broker, "#")
    except BaseException:
        service.stop()
        raise
    return Appliance(config_path, config, broker, service, ha, original)


@contextlib.contextmanager
def running_appliance(config_path: Path, broker: MosquittoBroker) -> Iterator[Appliance]:
    """The service started from ``config_path`` (see ``start_appliance``), stopped on exit."""
    app = start_appliance(config_path, broker)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def appliance(tmp_path: Path, broker: MosquittoBroker, shelf: PluginShelf) -> Iterator[Appliance]:
    """The service running from a config file, with an empty shelf the test fills."""
    path = write_config(tmp_path / "etc", port=broker.port, store=shelf.fake.store_config())
    with running_appliance(path, broker) as app:
        yield app


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LEDMATRIX_CONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli_json(result: subprocess.CompletedProcess[str]) -> dict:
    """The JSON envelope a ``--json`` run printed."""
    return dict(json.loads(result.stdout))


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        check=False,
    )
