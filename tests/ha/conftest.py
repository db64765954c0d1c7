"""Fixtures for the Home Assistant suite: a real mosquitto, the fake GitHub store, the
real service as a child process, and Home Assistant's own ``mqtt`` integration (set up
from a config entry, with its real client, not the ``mqtt_mock`` fixtures) on top.

Runs only under ``scripts/test-ha`` (Python 3.13 with pytest-homeassistant-custom-
component); the main suite ignores this folder.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_socket
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.ha.harness import (
    BASE,
    STORE_PLUGIN,
    ServiceProcess,
    Watch,
    discovered_unique_ids,
    retained,
    write_config,
)
from tests.ha.hass_helpers import HaView, until
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import PluginShelf
from tests.support.waiting import wait_until


@pytest.fixture(autouse=True)
def loopback_sockets() -> None:
    """HA's harness blocks every socket; this suite needs real ones, on loopback only."""
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(["127.0.0.1"])


@pytest.fixture(autouse=True)
def settled_threads() -> Iterator[None]:
    """HA's harness fails a test that leaves a thread behind; the fake store's request
    threads end only when the service's connections close, so wait for that."""
    before = set(threading.enumerate())

    def ours() -> list[str]:
        # SyncWorker_* is HA's own executor: the harness shuts it down after this.
        new = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        return [t.name for t in new if not t.name.startswith("SyncWorker_")]

    yield
    assert wait_until(lambda: not ours(), 10), ours()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(tmp_path / "broker", persistence=False).start()
    yield b
    b.stop()


@pytest.fixture
def store() -> Iterator[PluginShelf]:
    fake = FakeGitHub().start()
    shelf = PluginShelf(fake)
    shelf.publish(STORE_PLUGIN, "1.0.0", text="V1")
    yield shelf
    fake.stop()


@pytest.fixture
def watch(broker: MosquittoBroker) -> Iterator[Watch]:
    w = Watch(broker)
    yield w
    w.close()


@pytest.fixture
def service(
    tmp_path: Path, broker: MosquittoBroker, store: PluginShelf, watch: Watch
) -> Iterator[ServiceProcess]:
    """The service running from its config file, online with its state published."""
    proc = ServiceProcess(write_config(tmp_path / "etc", broker, store)).start()
    try:
        online = wait_until(lambda: retained(broker, f"{BASE}/availability") == b"online", 30)
        assert online, proc.log()
        assert wait_until(lambda: watch.latest(f"{BASE}/state/reconcile"), 30), proc.log()
        yield proc
    finally:
        proc.stop()
        print(f"--- service log (tail) ---\n{proc.log()[-6000:]}")  # shown when a test fails


@pytest.fixture
async def ha(
    hass: HomeAssistant, tmp_path: Path, broker: MosquittoBroker, request: pytest.FixtureRequest
) -> AsyncIterator[HaView]:
    """HA's ``mqtt`` integration connected to the broker, then the service started: its
    device and every entity it announces loaded in HA."""
    # MQTT reads configuration.yaml at set-up: give HA a real, empty one.
    config_dir = tmp_path / "ha-config"
    config_dir.mkdir()
    (config_dir / "configuration.yaml").write_text("")
    hass.config.config_dir = str(config_dir)
    # Default: HA first, so the service's discovery arrives at a running integration.
    # Parametrized "service_first": HA starts while the service runs (retained discovery).
    service_first = getattr(request, "param", "ha_first") == "service_first"
    if service_first:
        request.getfixturevalue("service")
    entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": "127.0.0.1", "port": broker.port},
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    request.getfixturevalue("service")
    watch: Watch = request.getfixturevalue("watch")
    view = HaView(hass)
    await until(
        hass,
        lambda: (
            view.device() is not None and view.unique_ids() == set(discovered_unique_ids(watch))
        ),
        30,
        lambda: (
            "every announced entity registered in HA; missing: "
            f"{set(discovered_unique_ids(watch)) - view.unique_ids()}, "
            f"unexpected: {view.unique_ids() - set(discovered_unique_ids(watch))}"
        ),
    )
    await until(
        hass,
        lambda: all(
            view.value(e.entity_id) not in (None, "unavailable")
            for e in view.entries()
            if e.disabled_by is None
        ),
        30,
        "every enabled entity available (HA skips service calls to unavailable ones)",
    )
    yield view
    # Unload while the broker is still up, as HA does on shutdown.
    assert await hass.config_entries.async_unload(entry.entry_id)
