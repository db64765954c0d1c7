"""The CLI's MQTT client against a real broker: the short wait for the service.

The "service" here is only its retained topics on a real mosquitto (availability
and frame, as the running service leaves them), so each timing case is exact.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.errors import ServiceUnreachable
from ledmatrix_mqtt.mqtt.remote import RemoteClient
from tests.support.mosquitto import MosquittoBroker, Probe, app_config

pytestmark = pytest.mark.broker

ROOT = "ledmatrix/testpanel"
PNG = b"\x89PNG\r\n\x1a\nnot-really"


def test_snapshot_while_the_service_comes_online_keeps_the_retained_frame(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """The retained frame arrives before availability says online (a service starting
    up): the frame must not be thrown away while waiting for online."""
    probe = Probe(broker, "#")
    try:
        probe.publish(f"{ROOT}/display/frame", PNG, retain=True)
        client = RemoteClient(app_config(broker, tmp_path / "s"), wait=5)
        result: list[bytes] = []
        worker = threading.Thread(target=lambda: result.append(client.snapshot()))
        worker.start()
        time.sleep(0.5)  # the service is "starting": no availability yet
        probe.publish(f"{ROOT}/availability", b"online", retain=True)
        worker.join(10)
        assert result == [PNG]
    finally:
        probe.close()


def test_offline_service_is_reported_after_the_wait_not_later(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    probe = Probe(broker, "#")
    try:
        probe.publish(f"{ROOT}/availability", b"offline", retain=True)
        probe.publish("ledmatrix/kitchen/availability", b"online", retain=True)
        started = time.monotonic()
        with pytest.raises(ServiceUnreachable) as info:
            RemoteClient(app_config(broker, tmp_path / "s"), wait=1).call("list", {})
        assert time.monotonic() - started < 3
        assert "'testpanel' is not online" in info.value.message
        assert "devices online on this broker: kitchen" in info.value.message
    finally:
        probe.close()
