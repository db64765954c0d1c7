"""Broker authentication and TLS with the real Service (not the front end alone).

mosquitto runs with a password file and a CA generated for the test
(tests/support/mosquitto.py make_tls). Refusals must be explained in
``Service.frontend.connection_error`` and must not turn into a reconnect loop:
the number of attempts is read from the broker's own log over a few seconds.
While refused, the display keeps drawing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.mqtt.remote import RemoteClient
from tests.security import ROOT, running_service, write_config
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker, Probe, make_tls
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
OBSERVE_S = 4.0


def test_service_connects_with_password_over_tls(tmp_path: Path, fake_github: FakeGitHub) -> None:
    users = {"svc": "svc-Pw-31", "ha": "ha-Pw-32"}
    broker = MosquittoBroker(tmp_path / "broker", users=users, tls=True).start()
    config_path = write_config(
        tmp_path / "cfg",
        broker,
        fake_github,
        mqtt={"username": "svc"},
        secrets={"mqtt": {"password": "svc-Pw-31"}},
    )
    try:
        with running_service(config_path) as (service, config):
            assert service.frontend is not None
            assert service.frontend.wait_online(10), service.frontend.connection_error
            assert service.frontend.connection_error == ""
            answer = RemoteClient(config).call("list", {}, timeout=10)
            assert answer["status"] == "ok"
            ids = {p["id"] for p in answer["data"]["plugins"]}
            assert {"clock", "text", "status"} <= ids
            ha = Probe(broker, f"{ROOT}/availability", username="ha", password="ha-Pw-32")
            try:
                ha.wait_for(lambda t, p, r: p == b"online" and r)
            finally:
                ha.close()
    finally:
        broker.stop()
    log = broker.log.read_text(errors="replace")
    assert "as svc" in log or "u'svc'" in log  # the service really authenticated as svc


def service_attempts(log: str) -> int:
    """TCP connections the broker accepted, minus the start-up readiness probe of
    MosquittoBroker.start (a bare connect/close). Nothing else talks to this broker."""
    return sum(1 for line in log.splitlines() if "New connection from" in line) - 1


@pytest.mark.parametrize(
    ("username", "password"),
    [("svc", "wrong-Pw-99"), ("intruder", "whatever-1"), ("", "")],
    ids=["wrong-password", "unknown-user", "anonymous"],
)
def test_refused_credentials_are_explained_and_not_retried_hot(
    tmp_path: Path, fake_github: FakeGitHub, username: str, password: str
) -> None:
    broker = MosquittoBroker(tmp_path / "broker", users={"svc": "right-Pw-1"}).start()
    mqtt = {"username": username} if username else {}
    secrets = {"mqtt": {"password": password}} if password else None
    config_path = write_config(tmp_path / "cfg", broker, fake_github, mqtt=mqtt, secrets=secrets)
    try:
        with running_service(config_path) as (service, _config):
            assert service.frontend is not None and service.display is not None
            assert wait_until(lambda: service.frontend.connection_error != "", 5), "a connect error"
            time.sleep(OBSERVE_S)
            error = service.frontend.connection_error
            assert not service.frontend.wait_online(0)
            assert "Not authorized" in error or "Bad user name" in error, error
            assert "mqtt.username" in error  # tells the user what to fix
            if password:
                assert password not in error
            assert service.display.frames.pushed > 0  # the panel keeps drawing
            log = broker.log.read_text(errors="replace")
        assert "not authorised" in log
        # Backoff.auth_delay is 60 s: one attempt in OBSERVE_S, never a hot loop.
        assert service_attempts(log) == 1, log
        assert log.count("not authorised") == 1
    finally:
        broker.stop()


def test_wrong_ca_is_refused_clearly_with_backoff(
    tmp_path: Path, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    broker = MosquittoBroker(tmp_path / "broker", tls=True).start()
    other_ca = make_tls(tmp_path / "other-ca").ca
    config_path = write_config(
        tmp_path / "cfg",
        broker,
        fake_github,
        mqtt={"tls": {"enabled": True, "ca_certs": str(other_ca)}},
    )
    try:
        with running_service(config_path) as (service, _config):
            assert service.frontend is not None
            assert wait_until(
                lambda: "certificate verification failed" in service.frontend.connection_error, 5
            ), "a TLS verification error"
            time.sleep(OBSERVE_S)
            assert not service.frontend.wait_online(0)
            assert "TLS" in service.frontend.connection_error
            # The handshake fails before mosquitto logs a connection: count our own
            # failure records instead (one per attempt).
            attempts = caplog.text.count("TLS certificate verification failed")
        # Backoff 1, 2, 4 s...: at most 4 attempts in ~5 s (a hot loop would make hundreds).
        assert 1 <= attempts <= 4, attempts
    finally:
        broker.stop()


def test_plain_tcp_to_a_tls_listener_is_refused_clearly(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """Plain MQTT to a TLS port: the broker drops the socket before any CONNACK. This
    used to leave ``connection_error`` empty (and, with no error recorded, the retry
    delay never grew past 1 s)."""
    broker = MosquittoBroker(tmp_path / "broker", tls=True).start()
    config_path = write_config(
        tmp_path / "cfg", broker, fake_github, mqtt={"tls": {"enabled": False}}
    )
    try:
        with running_service(config_path) as (service, _config):
            assert service.frontend is not None
            assert wait_until(lambda: service.frontend.connection_error != "", 8), "a connect error"
            time.sleep(OBSERVE_S)
            assert not service.frontend.wait_online(0)
            assert "mqtt.tls" in service.frontend.connection_error
    finally:
        broker.stop()
