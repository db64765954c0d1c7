"""Benchmark: `list` round trip with 200 installed plugins, and command throughput.

Starts its own mosquitto on a free loopback port (tests/support/mosquitto.py),
a real MqttFrontend with the fake store/display ports (200 installed plugins),
and measures with a plain paho v5 client:
  * `list` round-trip latency (publish -> response received), n requests one at a time;
  * a naive baseline in the same run: a bare paho echo (publish -> receive) through
    the same broker, to separate broker/paho cost from ours;
  * throughput: `next` commands pipelined with a window of in-flight requests.
Run: .venv/bin/python bench/mqtt_roundtrip.py [--n 500]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ledmatrix_mqtt.mqtt.frontend import FrontendTuning, MqttFrontend
from tests.support.fake_ports import FakeDisplay, FakeStore, registry_entries
from tests.support.mosquitto import MosquittoBroker, app_config

ROOT = "ledmatrix/testpanel"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Pinger:
    def __init__(self, broker: MosquittoBroker, listen: str, nodelay: bool = True) -> None:
        self.cond = threading.Condition()
        self.count = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="bench", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        if nodelay:
            self.client.on_socket_open = lambda c, u, sock: sock.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(listen, qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_count(self, n: int, timeout: float = 10.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.count >= n, timeout):
                raise RuntimeError("timed out")

    def roundtrip(self, topic: str, payload: bytes) -> float:
        with self.cond:
            target = self.count + 1
        start = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        self.wait_count(target)
        return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--throughput", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "b").start()
        store = FakeStore(extra=registry_entries(args.plugins))
        for entry in registry_entries(args.plugins):
            store.add_installed(entry.id, "1.0.0")
        tuning = FrontendTuning(rate=1e9, burst=1e9, display_queue=100_000)
        frontend = MqttFrontend(
            app_config(broker, Path(tmp) / "s"),
            store,
            FakeDisplay(store),
            state_dir=Path(tmp) / "s",
            version="bench",
            tuning=tuning,
        )
        frontend.start()
        assert frontend.wait_online(10)
        try:
            baseline = Pinger(broker, "bench/echo")
            base = [baseline.roundtrip("bench/echo", b"{}") for _ in range(args.n)]
            baseline.client.loop_stop()
            baseline.client.disconnect()

            p = Pinger(broker, f"{ROOT}/response/list")
            for _ in range(20):
                p.roundtrip(f"{ROOT}/cmd/list", b"{}")  # warm-up
            lat = [p.roundtrip(f"{ROOT}/cmd/list", b"{}") for _ in range(args.n)]
            p.client.loop_stop()
            p.client.disconnect()

            t = Pinger(broker, f"{ROOT}/response/next")
            start = time.perf_counter()
            window = 200
            for i in range(args.throughput):
                t.client.publish(f"{ROOT}/cmd/next", b"{}", qos=1)
                if i >= window:
                    t.wait_count(i - window + 1, 30)
            t.wait_count(args.throughput, 60)
            elapsed = time.perf_counter() - start
            t.client.loop_stop()
            t.client.disconnect()
        finally:
            frontend.stop()
            broker.stop()
    print(f"list round trip, {args.plugins} installed plugins, n={args.n}:")
    print(
        f"  p50 {statistics.median(lat):.2f} ms   p99 {pct(lat, 99):.2f} ms   max {max(lat):.2f} ms"
    )
    print(f"baseline (bare paho echo via the same broker), n={args.n}:")
    print(f"  p50 {statistics.median(base):.2f} ms   p99 {pct(base, 99):.2f} ms")
    print(
        f"throughput (`next`, window {window}): {args.throughput / elapsed:.0f} commands/s "
        f"({args.throughput} in {elapsed:.2f} s)"
    )


if __name__ == "__main__":
    main()
