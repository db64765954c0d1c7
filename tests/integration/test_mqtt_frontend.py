"""The MQTT front end against a real mosquitto, with fake store/display ports."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from ledmatrix_mqtt.errors import Busy, DownloadFailed, StorageFailed
from ledmatrix_mqtt.mqtt.client import Backoff
from ledmatrix_mqtt.mqtt.frontend import FrontendTuning, MqttFrontend
from ledmatrix_mqtt.mqtt.remote import RemoteClient
from ledmatrix_mqtt.mqtt.topics import Topics
from tests.support.fake_ports import FakeDisplay, FakeStore
from tests.support.mosquitto import MosquittoBroker, Probe, app_config, retained_snapshot

pytestmark = pytest.mark.broker

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

    def restart_frontend(self, tuning: FrontendTuning = FAST) -> None:
        self.frontend.stop()
        config = app_config(self.broker, self.state_dir)
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


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(tmp_path / "broker").start()
    yield b
    b.stop()


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


def test_list_round_trip_returns_installed_plugins(service: Service) -> None:
    resp = service.call("list", {"transaction": "t-1"})
    assert resp["status"] == "ok"
    assert resp["transaction"] == "t-1"
    assert [p["id"] for p in resp["data"]["plugins"]] == ["clock-simple"]
    assert resp["data"]["plugins"][0]["update_available"] is True


def test_install_updates_retained_state_and_discovery(service: Service) -> None:
    resp = service.call("install", {"plugin_id": "weather"})
    assert resp["status"] == "ok", resp
    assert resp["data"]["version"] == "2.0.0"
    state = retained(service.broker)
    plugins = json.loads(state[f"{ROOT}/state/plugins"])
    assert plugins["count"] == 2
    weather = json.loads(state[f"{ROOT}/state/plugins/weather"])
    assert weather["installed_version"] == "2.0.0" and weather["in_progress"] is False
    op = json.loads(state[f"{ROOT}/state/operation"])
    assert (op["operation"], op["status"], op["percent"]) == ("install", "done", 100)
    assert "homeassistant/update/testpanel/plugin_weather_update/config" in state
    store = json.loads(state[f"{ROOT}/state/store"])
    assert {"id": "weather", "name": "Weather", "latest_version": "2.0.0", "installed": True} in (
        store["entries"]
    )


def test_install_progress_is_published_on_operation_topic(service: Service) -> None:
    service.call("install", {"plugin_id": "weather"})
    op_topic = f"{ROOT}/state/operation"
    # the response and the final operation state travel on different topics: wait for "done"
    service.probe.wait_for(lambda t, p, r: t == op_topic and json.loads(p)["stage"] == "done")
    stages = [json.loads(p)["stage"] for p in service.probe.on(op_topic)]
    assert stages[:1] == ["queued"] or "queued" in stages
    assert {"downloading", "extracting", "activating", "done"} <= set(stages)
    service.call("update", {"plugin_id": "clock-simple"})
    plugin_topic = f"{ROOT}/state/plugins/clock-simple"
    service.probe.wait_for(
        lambda t, p, r: t == plugin_topic and p and json.loads(p)["update_percentage"] == 90
    )
    deadline = time.monotonic() + 5
    while json.loads(service.probe.on(plugin_topic)[-1])["in_progress"]:
        assert time.monotonic() < deadline, "the update never reported finishing"
        time.sleep(0.02)
    records = [json.loads(p) for p in service.probe.on(plugin_topic)]
    assert {r["update_percentage"] for r in records if r["in_progress"]} >= {30, 60, 90}
    assert records[-1]["in_progress"] is False


def test_uninstall_clears_plugin_state_and_entities(service: Service) -> None:
    assert (
        service.call("uninstall", "clock-simple" and {"plugin_id": "clock-simple"})["status"]
        == "ok"
    )
    state = retained(service.broker)
    assert f"{ROOT}/state/plugins/clock-simple" not in state
    assert "homeassistant/update/testpanel/plugin_clock-simple_update/config" not in state
    assert "homeassistant/switch/testpanel/plugin_clock-simple_enabled/config" not in state
    assert json.loads(state[f"{ROOT}/state/plugins"])["count"] == 0
    # The clears were explicit empty retained publications (HA deletes the entity).
    assert b"" in service.probe.on(
        "homeassistant/update/testpanel/plugin_clock-simple_update/config"
    )


@pytest.mark.parametrize(
    ("command", "payload", "code"),
    [
        ("install", {"plugin_id": "no-such-plugin"}, "not_found"),
        ("install", {"plugin_id": "../etc"}, "invalid_plugin_id"),
        ("install", {"url": "https://example.com/x.zip"}, "forbidden"),
        ("uninstall", {"plugin_id": "weather"}, "not_installed"),
        ("update", {"plugin_id": "weather"}, "not_installed"),
        ("enable", {"plugin_id": "weather"}, "not_installed"),
        ("show", {"plugin_id": "weather"}, "not_installed"),
        ("brightness", {"value": 101}, "invalid_payload"),
        ("power", {"state": "maybe"}, "invalid_payload"),
        ("list", {"surprise": 1}, "invalid_payload"),
        ("text", {"text": "x" * 300}, "invalid_payload"),
    ],
)
def test_bad_requests_get_error_codes(
    service: Service, command: str, payload: dict, code: str
) -> None:
    before = dict(service.store.installed)
    resp = service.call(command, payload)
    assert resp["status"] == "error"
    assert resp["error"]["code"] == code
    assert service.store.installed == before


@pytest.mark.parametrize(
    ("op", "exc", "code"),
    [
        ("install", DownloadFailed("boom"), "download_failed"),
        ("install", Busy("locked"), "busy"),
        ("install", StorageFailed("disk full"), "storage_failed"),
        ("list", RuntimeError("bug in the store"), "internal_error"),
    ],
)
def test_store_errors_map_to_codes_and_bugs_to_internal_error(
    service: Service, op: str, exc: BaseException, code: str
) -> None:
    service.store.fail_next[op] = exc
    command = "list" if op == "list" else "install"
    resp = service.call(command, {"plugin_id": "weather"} if command == "install" else {})
    assert resp["error"]["code"] == code
    assert service.call("list")["status"] == "ok"  # still serving


def test_raw_payloads_non_json_and_unknown_command(service: Service) -> None:
    probe = service.probe
    cases = [
        ("list", b"[1,2]", "invalid_payload"),
        ("list", b"null", "invalid_payload"),
        ("install", b"\xff\xfe", "invalid_payload"),
        ("install", b"{not json", "invalid_payload"),
        ("install", b"x" * (64 * 1024 + 1), "payload_too_large"),
        ("reboot", b"{}", "unknown_command"),
        ("list", b"", "invalid_payload"),
    ]
    for command, payload, code in cases:
        probe.clear()
        probe.publish(f"{ROOT}/cmd/{command}", payload)
        _, body, _ = probe.wait_for(lambda t, p, r, c=command: t == f"{ROOT}/response/{c}")
        resp = json.loads(body)
        assert (resp["status"], resp["error"]["code"]) == ("error", code), (command, payload[:20])


def test_bare_string_payloads_and_boolean_coercion(service: Service) -> None:
    probe = service.probe
    for command, payload in (
        ("power", b"off"),
        ("brightness", b"42"),
        ("show", b"clock-simple"),
        ("text", b"Hello"),
        ("power", b'"ON"'),
    ):
        probe.clear()
        probe.publish(f"{ROOT}/cmd/{command}", payload)
        _, body, _ = probe.wait_for(lambda t, p, r, c=command: t == f"{ROOT}/response/{c}")
        assert json.loads(body)["status"] == "ok", (command, body)
    state = service.display.state()
    assert (state.power, state.brightness, state.current_plugin) == (True, 42, "clock-simple")
    assert service.display.text() == "Hello"
    resp = service.call("reconcile", {"dry_run": "TRUE", "force": "0"})
    assert resp["data"]["dry_run"] is True


def test_display_commands_update_retained_display_state(service: Service) -> None:
    assert service.call("brightness", {"value": 10})["data"]["brightness"] == 10
    assert service.call("power", {"state": "OFF"})["data"]["power"] == "OFF"
    assert service.call("next")["status"] == "ok"
    assert service.call("text", {"text": "Hi there"})["status"] == "ok"
    disp = json.loads(retained(service.broker)[f"{ROOT}/state/display"])
    assert (disp["brightness"], disp["power"], disp["text"]) == (10, "OFF", "Hi there")


def test_enable_disable_and_ha_switch_payloads(service: Service) -> None:
    assert service.call("disable", {"plugin_id": "clock-simple"})["data"]["enabled"] is False
    state = retained(service.broker)
    assert json.loads(state[f"{ROOT}/state/plugins/clock-simple"])["enabled"] is False
    switch = json.loads(state["homeassistant/switch/testpanel/plugin_clock-simple_enabled/config"])
    service.probe.publish(switch["command_topic"], switch["payload_on"])
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/response/enable")
    assert service.store.installed["clock-simple"].enabled is True


def test_ha_update_entity_install_runs_the_plugin_update(service: Service) -> None:
    cfg = json.loads(
        retained(service.broker)["homeassistant/update/testpanel/plugin_clock-simple_update/config"]
    )
    service.probe.publish(cfg["command_topic"], cfg["payload_install"])
    _, body, _ = service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/response/update")
    assert json.loads(body)["data"]["version"] == "1.2.0"
    plugin = json.loads(retained(service.broker)[cfg["state_topic"]])
    assert plugin["installed_version"] == plugin["latest_version"] == "1.2.0"


def test_search_and_reconcile_publish_results(service: Service) -> None:
    resp = service.call("search", {"query": "wea", "refresh": True})
    assert [e["id"] for e in resp["data"]["entries"]] == ["weather"]
    resp = service.call("reconcile", {"force": True})
    assert resp["data"]["fixed"][0]["plugin_id"] == "weather"
    rec = json.loads(retained(service.broker)[f"{ROOT}/state/reconcile"])
    assert rec["result"] == "ok" and rec["dry_run"] is False


def test_update_all(service: Service) -> None:
    resp = service.call("update", {"all": True})
    assert [r["plugin_id"] for r in resp["data"]["results"]] == ["clock-simple"]


def test_retained_command_is_never_executed_and_is_cleared(service: Service) -> None:
    """Regression for Koenkk/zigbee2mqtt#8126 and Blueforcer/awtrix3#78: a broker
    replaying a retained command re-ran it on every restart."""
    probe = service.probe
    probe.publish(f"{ROOT}/cmd/uninstall", b'{"plugin_id":"clock-simple"}', retain=True)
    time.sleep(0.5)
    assert "clock-simple" in service.store.installed
    assert f"{ROOT}/cmd/uninstall" not in retained(service.broker)
    assert probe.on(f"{ROOT}/response/uninstall") == []
    assert service.frontend.stats().retained_commands_cleared == 1
    assert "uninstall" not in service.store.calls


def test_retained_command_left_while_service_was_down_is_cleared(service: Service) -> None:
    service.frontend.stop()
    service.probe.publish(f"{ROOT}/cmd/uninstall", b"clock-simple", retain=True)
    time.sleep(0.2)
    assert f"{ROOT}/cmd/uninstall" in retained(service.broker)
    service.restart_frontend()
    time.sleep(0.3)
    assert "uninstall" not in service.store.calls
    assert f"{ROOT}/cmd/uninstall" not in retained(service.broker)
    assert service.frontend.stats().retained_commands_cleared == 1


def test_duplicate_transaction_returns_first_response_without_rerun(service: Service) -> None:
    first = service.call("install", {"plugin_id": "weather", "transaction": "dup-1"})
    service.store.fail_next["install"] = AssertionError("must not run twice")
    second = service.call("install", {"plugin_id": "weather", "transaction": "dup-1"})
    assert second == first
    assert service.store.calls.count("install") == 1


def test_duplicate_transaction_survives_frontend_restart(service: Service) -> None:
    first = service.call("uninstall", {"plugin_id": "clock-simple", "transaction": "dup-r"})
    assert first["status"] == "ok"
    service.restart_frontend()
    service.store.add_installed("clock-simple")  # a re-run would remove it again
    again = service.call("uninstall", {"plugin_id": "clock-simple", "transaction": "dup-r"})
    assert again == first
    assert "clock-simple" in service.store.installed


def test_mqtt5_response_topic_and_correlation_data(service: Service) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    got: list[tuple[str, bytes, bytes]] = []
    service.probe.client.on_message = lambda c, u, m: got.append(
        (m.topic, bytes(m.payload), getattr(m.properties, "CorrelationData", b""))
    )
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "clients/abc/replies"
    props.CorrelationData = b"corr-42"
    service.probe.publish(f"{ROOT}/cmd/list", b"{}", properties=props)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(t == "clients/abc/replies" for t, _, _ in got):
        time.sleep(0.02)
    reply = [g for g in got if g[0] == "clients/abc/replies"]
    assert len(reply) == 1 and reply[0][2] == b"corr-42"
    assert json.loads(reply[0][1])["command"] == "list"
    assert len([g for g in got if g[0] == f"{ROOT}/response/list"]) == 1


def test_response_topic_naming_our_state_is_refused(service: Service) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = f"{ROOT}/state/plugins"
    props.CorrelationData = b"x"
    service.probe.clear()
    service.probe.publish(f"{ROOT}/cmd/list", b"{}", properties=props)
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/response/list")
    time.sleep(0.2)
    assert all(b'"command"' not in p for p in service.probe.on(f"{ROOT}/state/plugins"))


def test_mqtt311_mode(broker: MosquittoBroker, tmp_path: Path) -> None:
    svc = make_service(broker, tmp_path / "s311", protocol="3.1.1")
    try:
        assert svc.call("list", {})["status"] == "ok"
        assert svc.call("install", {"plugin_id": "weather"})["status"] == "ok"
        # retained guard on 3.1.1: our own clear must not come back as a command
        svc.frontend.stop()
        svc.probe.publish(f"{ROOT}/cmd/next", b"{}", retain=True)
        time.sleep(0.3)
        svc.restart_frontend()
        time.sleep(0.5)
        assert svc.probe.on(f"{ROOT}/response/next") == []
    finally:
        svc.probe.close()
        svc.frontend.stop()


def test_availability_offline_on_clean_stop(service: Service) -> None:
    assert retained(service.broker)[f"{ROOT}/availability"] == b"online"
    service.frontend.stop()
    assert retained(service.broker)[f"{ROOT}/availability"] == b"offline"
    service.restart_frontend()
    assert retained(service.broker)[f"{ROOT}/availability"] == b"online"


def test_frame_published_when_changed(service: Service) -> None:
    def red(png: bytes) -> bool:
        return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0)) == (255, 0, 0)

    service.display.draw((255, 0, 0))
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/display/frame" and red(p))
    count = len(service.probe.on(f"{ROOT}/display/frame"))
    service.display.draw((255, 0, 0))  # same picture: no new publication
    time.sleep(0.4)
    assert len(service.probe.on(f"{ROOT}/display/frame")) == count
    assert red(service.remote.snapshot(5))


def test_stale_plugin_state_from_earlier_run_is_cleared(service: Service) -> None:
    service.probe.publish(f"{ROOT}/state/plugins/ghost", b'{"id":"ghost"}', retain=True)
    time.sleep(0.2)
    service.restart_frontend()
    time.sleep(0.5)
    assert f"{ROOT}/state/plugins/ghost" not in retained(service.broker)


def test_plugins_changed_republishes(service: Service) -> None:
    service.store.add_installed("weather", "2.0.0")
    service.frontend.plugins_changed()
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/state/plugins/weather")
    assert json.loads(retained(service.broker)[f"{ROOT}/state/plugins"])["count"] == 2


def test_topics_are_what_the_contract_says() -> None:
    t = Topics("ledmatrix", "testpanel", "homeassistant")
    assert t.command("install") == f"{ROOT}/cmd/install"
    assert t.response("install") == f"{ROOT}/response/install"
