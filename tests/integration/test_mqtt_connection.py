"""Connection behaviour against a real mosquitto: restarts, retained loss, auth, TLS, ACL."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.mqtt.broker import EmbeddedBroker, is_listening
from ledmatrix_mqtt.mqtt.client import Backoff
from ledmatrix_mqtt.mqtt.frontend import FrontendTuning, MqttFrontend
from ledmatrix_mqtt.mqtt.remote import RemoteClient, ServiceUnreachable
from tests.support.fake_ports import FakeDisplay, FakeStore
from tests.support.mosquitto import MosquittoBroker, Probe, app_config, free_port, retained_snapshot
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
ROOT = "ledmatrix/testpanel"
FAST = FrontendTuning(
    rate=1000.0,
    burst=1000.0,
    frame_interval=0.1,
    birth_delay=(0.05, 0.1),
    backoff=Backoff(0.1, 0.5, 1.5),
)
REPO = Path(__file__).resolve().parents[2]


def start_frontend(broker: MosquittoBroker, state_dir: Path, **mqtt: object) -> MqttFrontend:
    store = FakeStore()
    store.add_installed("clock-simple")
    frontend = MqttFrontend(
        app_config(broker, state_dir, **mqtt),
        store,
        FakeDisplay(store),
        state_dir=state_dir,
        version="1.0.0",
        tuning=FAST,
    )
    frontend.start()
    return frontend


def test_broker_restart_mid_run_resubscribes_and_republishes(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b").start()
    frontend = start_frontend(broker, tmp_path / "s")
    try:
        assert frontend.wait_online(10)
        remote = RemoteClient(app_config(broker, tmp_path / "s"))
        for _ in range(3):
            broker.restart(down_for=0.3)
            assert frontend.wait_online(10), frontend.connection_error
            assert remote.call("list", {}, timeout=5)["status"] == "ok"  # subscriptions work
            state = retained_snapshot(broker, "#", 0.3)
            assert state[f"{ROOT}/availability"] == b"online"
            assert f"{ROOT}/state/plugins/clock-simple" in state
    finally:
        frontend.stop()
        broker.stop()


def test_broker_losing_retained_store_gets_everything_republished(tmp_path: Path) -> None:
    """Regression for Koenkk/zigbee2mqtt#9629 / ESPresense#457: a broker restarted
    without persistence lost retained discovery and state; the device stayed unavailable."""
    broker = MosquittoBroker(tmp_path / "b", persistence=False).start()
    frontend = start_frontend(broker, tmp_path / "s")
    try:
        assert frontend.wait_online(10)
        before = retained_snapshot(broker, "#", 0.3)
        broker.restart(persistence=False, down_for=0.2)
        assert wait_until(lambda: set(retained_snapshot(broker, "#", 0.2)) >= set(before), 15)
        after = retained_snapshot(broker, "#", 0.3)
        assert after[f"{ROOT}/availability"] == b"online"
        assert "homeassistant/light/testpanel/panel/config" in after
    finally:
        frontend.stop()
        broker.stop()


def test_availability_overwritten_by_a_stale_will_is_corrected(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b").start()
    frontend = start_frontend(broker, tmp_path / "s")
    probe = Probe(broker, f"{ROOT}/availability")
    try:
        assert frontend.wait_online(10)
        probe.publish(f"{ROOT}/availability", b"offline", retain=True)  # e.g. an old session's LWT
        assert wait_until(
            lambda: (
                retained_snapshot(broker, f"{ROOT}/availability", 0.2).get(f"{ROOT}/availability")
                == b"online"
            )
        )
    finally:
        probe.close()
        frontend.stop()
        broker.stop()


def test_password_auth_and_tls(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b", users={"svc": "s3cret-pw"}, tls=True).start()
    frontend = start_frontend(broker, tmp_path / "s", username="svc", password="s3cret-pw")
    try:
        assert frontend.wait_online(10), frontend.connection_error
        config = app_config(broker, tmp_path / "s", username="svc", password="s3cret-pw")
        assert RemoteClient(config).call("list", {}, timeout=5)["status"] == "ok"
    finally:
        frontend.stop()
        broker.stop()


def test_wrong_password_is_reported_clearly_without_a_hot_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = MosquittoBroker(tmp_path / "b", users={"svc": "right"}).start()
    frontend = start_frontend(broker, tmp_path / "s", username="svc", password="wrong-pw-xyz")
    try:
        time.sleep(2.0)
        assert not frontend.wait_online(0)
        assert "Not authorized" in frontend.connection_error or (
            "Bad user name" in frontend.connection_error
        )
        assert "mqtt.username" in frontend.connection_error
        attempts = broker.log.read_text(errors="replace").count("not authorised")
        assert 1 <= attempts <= 2  # auth_delay (1.5 s) between attempts, not a hot loop
        assert "wrong-pw-xyz" not in caplog.text
    finally:
        frontend.stop()
        broker.stop()
    with pytest.raises(ServiceUnreachable, match="Not authorized|Bad user name"):
        b2 = MosquittoBroker(tmp_path / "b2", users={"svc": "right"}).start()
        try:
            cfg = app_config(b2, tmp_path / "s2", username="svc", password="nope")
            RemoteClient(cfg).call("list", {}, timeout=3)
        finally:
            b2.stop()


def test_tls_with_wrong_ca_is_refused_clearly(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b", tls=True).start()
    other = MosquittoBroker(tmp_path / "other", tls=True)  # a different CA, never started
    frontend = start_frontend(
        broker, tmp_path / "s", tls={"enabled": True, "ca_certs": str(other.tls_files.ca)}
    )
    try:
        assert wait_until(lambda: "certificate verification failed" in frontend.connection_error, 5)
        assert not frontend.wait_online(0)
    finally:
        frontend.stop()
        broker.stop()


def test_unix_socket_transport(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b", unix_socket=True).start()
    frontend = start_frontend(broker, tmp_path / "s")
    try:
        assert frontend.wait_online(10), frontend.connection_error
        resp = RemoteClient(app_config(broker, tmp_path / "s")).call("list", {}, timeout=5)
        assert resp["status"] == "ok"
    finally:
        frontend.stop()
        broker.stop()


def start_behind_acl_example(tmp_path: Path) -> tuple[MosquittoBroker, MqttFrontend, Probe]:
    """A broker with ``config/mosquitto-acl.example``, the service and HA as its users."""
    acl = tmp_path / "ledmatrix.acl"
    shutil.copy(REPO / "config" / "mosquitto-acl.example", acl)
    users = {"ledmatrix": "svc-pw", "homeassistant": "ha-pw"}
    broker = MosquittoBroker(tmp_path / "b", users=users, acl_file=acl).start()
    frontend = start_frontend(broker, tmp_path / "s", username="ledmatrix", password="svc-pw")
    return broker, frontend, Probe(broker, "#", username="homeassistant", password="ha-pw")


def test_acl_example_lets_ha_command_but_not_rewrite_state(tmp_path: Path) -> None:
    broker, frontend, ha = start_behind_acl_example(tmp_path)
    try:
        assert frontend.wait_online(10), frontend.connection_error
        ha.wait_for(lambda t, p, r: t == f"{ROOT}/state/plugins/clock-simple")
        # HA may command: the service executes and answers.
        ha.publish(f"{ROOT}/cmd/brightness", b"33")
        ha.wait_for(lambda t, p, r: t == f"{ROOT}/response/brightness")
        # HA may not rewrite state: the broker drops the publication.
        ha.publish(f"{ROOT}/state/plugins/clock-simple", b'{"hacked":true}', retain=True)
        ha.publish(f"{ROOT}/availability", b"offline", retain=True)
        # the broker handles HA's publications in order: once this is answered, the two
        # above were dropped (or applied)
        ha.publish(f"{ROOT}/cmd/next", b"{}")
        ha.wait_for(lambda t, p, r: t == f"{ROOT}/response/next")
        state = retained_snapshot_as(broker, "ledmatrix", "svc-pw")
        assert b"hacked" not in state[f"{ROOT}/state/plugins/clock-simple"]
        assert state[f"{ROOT}/availability"] == b"online"
        assert json.loads(state[f"{ROOT}/state/display"])["brightness"] == 33
    finally:
        ha.close()
        frontend.stop()
        broker.stop()


def test_acl_example_delivers_replies_and_no_client_can_steer_them_elsewhere(
    tmp_path: Path,
) -> None:
    """Regression for issue 11.6: through MQTT 5 response topics the ``homeassistant`` user
    made device A publish onto device B's topics, and the ACL example silently dropped the
    replies it advertised under ``clients/<user>/``."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    broker, frontend, ha = start_behind_acl_example(tmp_path)
    try:
        assert frontend.wait_online(10), frontend.connection_error

        def ask(reply_topic: str, corr: bytes) -> None:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = corr
            ha.publish(f"{ROOT}/cmd/list", b"{}", properties=props)

        reply_topic = f"{ROOT}/response/client-ha"
        ask(reply_topic, b"mine")
        ha.wait_for(lambda t, p, r: t == reply_topic and b'"command":"list"' in p)
        for hijack in ("ledmatrix/otherpanel/availability", "ledmatrix/otherpanel/state/x"):
            ask(hijack, b"steer")
        ask(reply_topic, b"last")  # answered after the two above
        ha.wait_for(lambda t, p, r: t == reply_topic and len(ha.on(reply_topic)) == 2)
        assert ha.on("ledmatrix/otherpanel/availability") == []
        assert ha.on("ledmatrix/otherpanel/state/x") == []
    finally:
        ha.close()
        frontend.stop()
        broker.stop()


def retained_snapshot_as(broker: MosquittoBroker, user: str, password: str) -> dict[str, bytes]:
    probe = Probe(broker, "#", username=user, password=password)
    try:
        time.sleep(0.3)
        return {t: p for t, p, r in probe.messages if r}
    finally:
        probe.close()


def test_ha_birth_republishes_discovery(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b").start()
    frontend = start_frontend(broker, tmp_path / "s")
    probe = Probe(broker, "homeassistant/+/testpanel/#")
    try:
        assert frontend.wait_online(10)
        probe.wait_for(lambda t, p, r: t.endswith("panel/config"))
        probe.clear()
        probe.publish("homeassistant/status", b"online")
        probe.wait_for(lambda t, p, r: t == "homeassistant/light/testpanel/panel/config")
    finally:
        probe.close()
        frontend.stop()
        broker.stop()


def test_discovery_disabled_publishes_none(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b").start()
    frontend = start_frontend(broker, tmp_path / "s", discovery={"enabled": False})
    try:
        assert frontend.wait_online(10)
        state = retained_snapshot(broker, "#", 0.3)
        assert not any(t.startswith("homeassistant/") for t in state)
        assert f"{ROOT}/state/plugins" in state
    finally:
        frontend.stop()
        broker.stop()


def test_embedded_broker_auto_starts_on_free_loopback_port(tmp_path: Path) -> None:
    port = free_port()
    config = app_config(
        MosquittoBroker(tmp_path / "unused"), tmp_path / "s", port=port, embedded="auto"
    )
    broker = EmbeddedBroker.maybe_start(config.mqtt, tmp_path / "s")
    assert broker is not None
    try:
        assert is_listening("127.0.0.1", port)
        assert (
            (tmp_path / "s" / "mosquitto" / "mosquitto.conf")
            .read_text()
            .startswith(f"listener {port} 127.0.0.1")
        )
        # something listens now: a second call does not start another one
        assert EmbeddedBroker.maybe_start(config.mqtt, tmp_path / "s") is None
    finally:
        broker.stop()
    assert not is_listening("127.0.0.1", port)
    off = app_config(MosquittoBroker(tmp_path / "unused2"), tmp_path / "s", port=port)
    assert EmbeddedBroker.maybe_start(off.mqtt, tmp_path / "s") is None  # embedded: false
