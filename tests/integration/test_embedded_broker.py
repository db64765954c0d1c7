"""``mqtt.embedded: auto`` never squats the port of a real broker that is down.

A private anonymous mosquitto on the real broker's port would keep the real one
from starting. It is refused (and the log says why) when credentials or TLS are
configured, and on port 1883 when a system mosquitto unit is enabled under a
running systemd. The user-level case (the service started with credentials while
its broker is down) is in ``tests/e2e/test_run_command.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ledmatrix_mqtt.core.config_model import parse_config
from ledmatrix_mqtt.mqtt.broker import EmbeddedBroker, is_listening, system_broker_unit
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.broker


def mqtt_config(**mqtt: object):  # type: ignore[no-untyped-def]
    section = {"host": "127.0.0.1", "embedded": "auto", **mqtt}
    return parse_config({"mqtt": section}).mqtt


def fake_system(root: Path, *, systemd_running: bool, enabled: bool) -> Path:
    """A file tree with systemd's folders as a host would have them."""
    wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants"
    wants.mkdir(parents=True)
    if enabled:
        (wants / "mosquitto.service").symlink_to("/lib/systemd/system/mosquitto.service")
    if systemd_running:
        (root / "run" / "systemd" / "system").mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"username": "ha", "password": "pw"}, "credentials or TLS are configured"),
        ({"username": "ha"}, "credentials or TLS are configured"),
        ({"tls": {"enabled": True}}, "credentials or TLS are configured"),
    ],
)
def test_secured_broker_down_at_start_gets_no_private_stand_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, settings: dict, reason: str
) -> None:
    port = free_port()
    config = mqtt_config(port=port, **settings)
    with caplog.at_level(logging.WARNING, logger="ledmatrix_mqtt.mqtt.broker"):
        assert EmbeddedBroker.maybe_start(config, tmp_path / "state") is None
    assert not is_listening("127.0.0.1", port)
    assert not (tmp_path / "state" / "mosquitto").exists()
    assert f"nothing listens at 127.0.0.1:{port}; not starting a private mosquitto" in caplog.text
    assert reason in caplog.text


def test_enabled_system_mosquitto_owns_the_standard_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if is_listening("127.0.0.1", 1883):
        pytest.skip("a broker listens on 127.0.0.1:1883 on this machine")
    root = fake_system(tmp_path / "host", systemd_running=True, enabled=True)
    with caplog.at_level(logging.WARNING, logger="ledmatrix_mqtt.mqtt.broker"):
        started = EmbeddedBroker.maybe_start(
            mqtt_config(port=1883), tmp_path / "state", system_root=root
        )
    assert started is None
    assert not is_listening("127.0.0.1", 1883)
    assert "the system broker (mosquitto.service) is enabled and owns port 1883" in caplog.text
    assert "sudo systemctl start mosquitto.service" in caplog.text


def test_system_unit_counts_only_when_enabled_under_a_running_systemd(tmp_path: Path) -> None:
    running = fake_system(tmp_path / "a", systemd_running=True, enabled=True)
    container = fake_system(tmp_path / "b", systemd_running=False, enabled=True)
    disabled = fake_system(tmp_path / "c", systemd_running=True, enabled=False)
    assert system_broker_unit(running) == "mosquitto.service"
    assert system_broker_unit(container) == ""
    assert system_broker_unit(disabled) == ""


def test_other_port_with_a_system_unit_still_gets_a_private_broker(tmp_path: Path) -> None:
    """The unit owns 1883 only: a private broker on another free loopback port is fine."""
    root = fake_system(tmp_path / "host", systemd_running=True, enabled=True)
    port = free_port()
    broker = EmbeddedBroker.maybe_start(
        mqtt_config(port=port), tmp_path / "state", system_root=root
    )
    assert broker is not None
    try:
        assert is_listening("127.0.0.1", port)
    finally:
        broker.stop()
    assert not is_listening("127.0.0.1", port)
