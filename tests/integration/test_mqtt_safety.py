"""MqttFrontend safety rules: retained commands, duplicate transactions, MQTT 5/3.1.1,
availability, frames and stale state (real mosquitto, fake store/display ports)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from ledmatrix_mqtt.mqtt.frontend import MqttFrontend
from ledmatrix_mqtt.mqtt.topics import Topics
from tests.integration.frontend_env import ROOT, Service, make_service, retained
from tests.support.fake_ports import FakeDisplay, FakeStore
from tests.support.mosquitto import MosquittoBroker, Probe, app_config
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def test_retained_command_is_never_executed_and_is_cleared(service: Service) -> None:
    """Regression for Koenkk/zigbee2mqtt#8126 and Blueforcer/awtrix3#78: a broker
    replaying a retained command re-ran it on every restart."""
    probe = service.probe
    probe.publish(f"{ROOT}/cmd/uninstall", b'{"plugin_id":"clock-simple"}', retain=True)
    assert wait_until(lambda: service.frontend.stats().retained_commands_cleared == 1)
    probe.wait_for(lambda t, p, r: t == f"{ROOT}/cmd/uninstall" and not p)  # our clear
    assert "clock-simple" in service.store.installed
    assert f"{ROOT}/cmd/uninstall" not in retained(service.broker)
    assert probe.on(f"{ROOT}/response/uninstall") == []
    assert service.frontend.stats().retained_commands_cleared == 1
    assert "uninstall" not in service.store.calls


def test_retained_command_left_while_service_was_down_is_cleared(service: Service) -> None:
    service.frontend.stop()
    service.probe.publish(f"{ROOT}/cmd/uninstall", b"clock-simple", retain=True)
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/cmd/uninstall" and p)
    assert f"{ROOT}/cmd/uninstall" in retained(service.broker)
    service.restart_frontend()
    assert wait_until(lambda: service.frontend.stats().retained_commands_cleared == 1)
    assert "uninstall" not in service.store.calls
    assert f"{ROOT}/cmd/uninstall" not in retained(service.broker)
    assert service.frontend.stats().retained_commands_cleared == 1


def test_empty_command_after_a_cleared_retained_one_still_gets_its_response(
    service: Service,
) -> None:
    """On MQTT 5 our clear of a retained command is never echoed back (noLocal), so the
    topic stayed marked "expect our echo" and the next empty command sent there was
    swallowed with no response at all."""
    probe = service.probe
    probe.publish(f"{ROOT}/cmd/next", b"{}", retain=True)
    assert wait_until(lambda: service.frontend.stats().retained_commands_cleared == 1)
    probe.publish(f"{ROOT}/cmd/next", b"")
    _, reply, _ = probe.wait_for(lambda t, p, r: t == f"{ROOT}/response/next")
    assert json.loads(reply)["error"]["code"] == "invalid_payload"


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


def _v5_props(response_topic: str, correlation: bytes):  # type: ignore[no-untyped-def]
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = response_topic
    props.CorrelationData = correlation
    return props


def test_mqtt5_response_topic_and_correlation_data(service: Service) -> None:
    got: list[tuple[str, bytes, bytes]] = []
    service.probe.client.on_message = lambda c, u, m: got.append(
        (m.topic, bytes(m.payload), getattr(m.properties, "CorrelationData", b""))
    )
    reply_topic = f"{ROOT}/response/client-abc"
    service.probe.publish(f"{ROOT}/cmd/list", b"{}", properties=_v5_props(reply_topic, b"c-42"))
    assert wait_until(lambda: any(t == reply_topic for t, _, _ in got))
    assert wait_until(lambda: any(t == f"{ROOT}/response/list" for t, _, _ in got))
    reply = [g for g in got if g[0] == reply_topic]
    assert len(reply) == 1 and reply[0][2] == b"c-42"
    assert json.loads(reply[0][1])["command"] == "list"
    assert len([g for g in got if g[0] == f"{ROOT}/response/list"]) == 1


@pytest.mark.parametrize(
    "reply_topic",
    [
        f"{ROOT}/state/plugins",  # our own state
        "ledmatrix/otherpanel/availability",  # another device's root
        "ledmatrix/otherpanel/response/list",  # another device's replies
        "homeassistant/light/x/config",  # discovery
        "clients/abc/replies",  # outside the reply namespace the ACL grants
        "$SYS/x",
        f"{ROOT}/response/",
    ],
)
def test_response_topic_outside_our_reply_namespace_is_refused(
    service: Service, reply_topic: str
) -> None:
    """Regression for issue 11.6: a client could make device A publish onto device B's
    availability, state, frame and response topics through an MQTT 5 response topic."""
    spy = Probe(service.broker, "#")
    try:
        service.probe.publish(f"{ROOT}/cmd/list", b"{}", properties=_v5_props(reply_topic, b"x"))
        spy.wait_for(lambda t, p, r: t == f"{ROOT}/response/list")
        # publications leave in order: once a later command is answered, any stray
        # copy of the first response would have arrived
        service.probe.publish(f"{ROOT}/cmd/next", b"{}")
        spy.wait_for(lambda t, p, r: t == f"{ROOT}/response/next")
        stray = [t for t, p, _ in spy.messages if b'"command":"list"' in p]
        assert stray == [f"{ROOT}/response/list"]
    finally:
        spy.close()


def test_mqtt311_mode(broker: MosquittoBroker, tmp_path: Path) -> None:
    svc = make_service(broker, tmp_path / "s311", protocol="3.1.1")
    try:
        assert svc.call("list", {})["status"] == "ok"
        assert svc.call("install", {"plugin_id": "weather"})["status"] == "ok"
        # retained guard on 3.1.1: our own clear must not come back as a command
        svc.frontend.stop()
        svc.probe.publish(f"{ROOT}/cmd/next", b"{}", retain=True)
        svc.probe.wait_for(lambda t, p, r: t == f"{ROOT}/cmd/next" and p == b"{}")
        svc.restart_frontend(protocol="3.1.1")
        # the retained command is replayed on subscribe, before this one arrives
        assert svc.call("list", {"transaction": "after-replay"})["status"] == "ok"
        svc.probe.wait_for(lambda t, p, r: t == f"{ROOT}/cmd/next" and not p)  # cleared
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
    def colour(png: bytes) -> object:
        return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0)) if png else None

    def red(png: bytes) -> bool:
        return colour(png) == (255, 0, 0)

    service.display.draw((255, 0, 0))
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/display/frame" and red(p))
    count = len(service.probe.on(f"{ROOT}/display/frame"))
    service.display.draw((255, 0, 0))  # same picture: no new publication
    service.display.draw((0, 0, 255))  # frames leave in order: this one comes next
    service.probe.wait_for(
        lambda t, p, r: t == f"{ROOT}/display/frame" and colour(p) == (0, 0, 255)
    )
    assert len(service.probe.on(f"{ROOT}/display/frame")) == count + 1
    assert colour(service.remote.snapshot(5)) == (0, 0, 255)


def test_stale_plugin_state_from_earlier_run_is_cleared(service: Service) -> None:
    service.probe.publish(f"{ROOT}/state/plugins/ghost", b'{"id":"ghost"}', retain=True)
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/state/plugins/ghost" and p)
    service.restart_frontend()
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/state/plugins/ghost" and not p)
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


def test_rate_limit_comes_from_the_config(broker: MosquittoBroker, tmp_path: Path) -> None:
    """``mqtt.rate_limit`` / ``mqtt.rate_burst``: with a burst of 2 at 0.1/s, a quick run of
    6 commands gets 2 answers and 4 ``rate_limited``, each exactly one response."""
    config = app_config(broker, tmp_path / "state", rate_limit=0.1, rate_burst=2)
    store = FakeStore()
    frontend = MqttFrontend(
        config, store, FakeDisplay(store), state_dir=tmp_path / "state", version="9"
    )
    frontend.start()
    probe = Probe(broker, f"{ROOT}/response/#")
    try:
        assert frontend.wait_online(10), frontend.connection_error
        for i in range(6):
            probe.publish(f"{ROOT}/cmd/list", json.dumps({"transaction": f"t{i}"}))
        assert wait_until(lambda: len(probe.on(f"{ROOT}/response/list")) == 6, timeout=10)
        statuses = [json.loads(p) for p in probe.on(f"{ROOT}/response/list")]
        codes = sorted(r["error"]["code"] for r in statuses if r["status"] == "error")
        assert codes == ["rate_limited"] * 4
    finally:
        probe.close()
        frontend.stop()
