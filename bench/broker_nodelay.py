"""Benchmark: a command's round trip through the service, broker with/without set_tcp_nodelay.

For the Home Assistant guide: a stock mosquitto delays small packets (Nagle's
algorithm meeting delayed ACKs). Starts mosquitto on a free loopback port
(tests/support/mosquitto.py, with or without ``set_tcp_nodelay true``), a real
MqttFrontend with the fake ports, and times ``brightness`` command -> response
with a paho client with and without TCP_NODELAY on its own socket.
Run: .venv/bin/python bench/broker_nodelay.py [--n 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mqtt_roundtrip import Pinger, pct
from ledmatrix_mqtt.mqtt.frontend import FrontendTuning, MqttFrontend
from tests.support.fake_ports import FakeDisplay, FakeStore
from tests.support.mosquitto import MosquittoBroker, app_config

ROOT = "ledmatrix/testpanel"


class StockBroker(MosquittoBroker):
    """The test broker without ``set_tcp_nodelay``, as mosquitto ships."""

    def _config(self) -> str:
        return super()._config().replace("set_tcp_nodelay true\n", "")


def round_trips(broker_nodelay: bool, client_nodelay: bool, n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        kind = MosquittoBroker if broker_nodelay else StockBroker
        broker = kind(Path(tmp) / "b").start()
        store = FakeStore()
        frontend = MqttFrontend(
            app_config(broker, Path(tmp) / "s"),
            store,
            FakeDisplay(store),
            state_dir=Path(tmp) / "s",
            version="bench",
            tuning=FrontendTuning(rate=1e9, burst=1e9),
        )
        frontend.start()
        assert frontend.wait_online(10)
        try:
            p = Pinger(broker, f"{ROOT}/response/brightness", nodelay=client_nodelay)
            topic = f"{ROOT}/cmd/brightness"
            for i in range(20):  # warm-up
                p.roundtrip(topic, str(10 + i).encode())
            lat = [p.roundtrip(topic, str(10 + i % 50).encode()) for i in range(n)]
            p.client.loop_stop()
            p.client.disconnect()
            return lat
        finally:
            frontend.stop()
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    for broker_nodelay in (False, True):
        for client_nodelay in (False, True):
            lat = round_trips(broker_nodelay, client_nodelay, args.n)
            print(
                f"broker set_tcp_nodelay={broker_nodelay!s:5} client TCP_NODELAY="
                f"{client_nodelay!s:5} n={args.n}: p50 {statistics.median(lat):.2f} ms"
                f"  p99 {pct(lat, 99):.2f} ms"
            )


if __name__ == "__main__":
    main()
