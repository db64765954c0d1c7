"""Service start-up to ``online`` with 50 installed plugins (target: under 1.5 s).

Runs the real service as a subprocess (``ledmatrix-mqtt --config X run``,
headless backend) against its own mosquitto, with N LEDMatrix-style plugins
written into ``state_dir/plugins`` (each with a config block, all enabled) and
a FakeGitHub registry listing them. A subscriber that is connected before the
process starts records, per run, the time from ``Popen`` to

* the live (non-retained) ``online`` on ``ROOT/availability``, and
* the first live ``ROOT/display/frame`` (the panel's first frame as seen on MQTT).

Baseline in the same run: the same start-up with 0 plugins (interpreter start,
imports and broker connect, i.e. what no plugin code can make faster).

    .venv/bin/python bench/startup_online.py [--runs 10] [--plugins 50] [--quick]
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import _common as c  # first: puts the repo on sys.path
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import registry_entry

TARGET_MS = 1500.0


class FirstSeen:
    """Records the first live (non-retained) arrival time of each watched topic."""

    def __init__(self, port: int) -> None:
        self.times: dict[str, float] = {}
        self.payloads: dict[str, bytes] = {}
        self._cond = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{c.ROOT_TOPIC}/availability", qos=1)
        self.client.subscribe(f"{c.ROOT_TOPIC}/display/frame", qos=0)
        self.client.subscribe(f"{c.ROOT_TOPIC}/state/plugins", qos=1)
        self.client.loop_start()
        time.sleep(0.3)  # retained messages of the previous run arrive (and are ignored)

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        if msg.retain:
            return
        with self._cond:
            key = msg.topic.rsplit("/", 1)[-1]
            self.payloads[key] = bytes(msg.payload)
            if key == "availability" and msg.payload != b"online":
                return
            self.times.setdefault(key, now)
            self._cond.notify_all()

    def wait(self, keys: tuple[str, ...], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: all(k in self.times for k in keys), timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def loaded_count(seen: FirstSeen) -> int:
    plugins = json.loads(seen.payloads.get("plugins") or b"{}").get("plugins", [])
    return sum(1 for p in plugins if p.get("loaded") and p.get("source") != "built-in")


def one_run(config: Path, port: int, expect: int) -> tuple[float, float]:
    seen = FirstSeen(port)
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(c.SERVICE_EXE), "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        ok = seen.wait(("availability", "frame"), 30)
        deadline = time.monotonic() + 10
        while ok and loaded_count(seen) < expect and time.monotonic() < deadline:
            time.sleep(0.05)  # the plugins really load (state/plugins says so)
        if ok and loaded_count(seen) < expect:
            raise RuntimeError(f"only {loaded_count(seen)} of {expect} plugins loaded")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        if not ok:
            raise RuntimeError(f"service never came online: {err.decode(errors='replace')[-800:]}")
        return (
            (seen.times["availability"] - started) * 1000,
            (seen.times["frame"] - started) * 1000,
        )
    finally:
        seen.close()


def scenario(tmp: Path, broker: MosquittoBroker, fake: FakeGitHub, plugins: int, runs: int):  # type: ignore[no-untyped-def]
    folder = tmp / f"p{plugins}"
    ids = c.write_plugins(folder / "state" / "plugins", plugins)
    config = c.write_service_config(folder, broker.port, fake.store_config(), ids)
    one_run(config, broker.port, plugins)  # warm-up: first start-up reconcile, OS file cache
    online, frame = [], []
    for _ in range(runs):
        a, f = one_run(config, broker.port, plugins)
        online.append(a)
        frame.append(f)
    return online, frame


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--plugins", type=int, default=50)
    args = ap.parse_args()
    runs = 3 if args.quick else args.runs
    print(c.noise_note())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = MosquittoBroker(tmp / "broker").start()
        fake = FakeGitHub().start()
        ids = [f"bench-{i:03d}" for i in range(args.plugins)]
        fake.set_registry([registry_entry(fake, pid) for pid in ids])
        try:
            results = {}
            for count in (args.plugins, 0):
                results[count] = scenario(tmp, broker, fake, count, runs)
        finally:
            fake.stop()
            broker.stop()
    for count, (online, frame) in results.items():
        label = f"{count} plugins" + (" (baseline)" if count == 0 else "")
        print(c.summary(f"start-up to online, {label}", online))
        print(c.summary(f"start-up to first frame on MQTT, {label}", frame))
        print(f"  {c.spread(online)}")
    median = sorted(results[args.plugins][0])[len(results[args.plugins][0]) // 2]
    verdict = "meets" if median < TARGET_MS else "MISSES"
    print(f"target: online under {TARGET_MS:.0f} ms with {args.plugins} plugins: {verdict}")
    print(c.noise_note())


if __name__ == "__main__":
    main()
