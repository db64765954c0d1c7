"""Hostile input against a real broker: fuzzed payloads and a command flood."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ledmatrix_mqtt.errors import ERROR_CODES
from ledmatrix_mqtt.mqtt.client import Backoff
from ledmatrix_mqtt.mqtt.commands import COMMANDS
from ledmatrix_mqtt.mqtt.frontend import FrontendTuning, MqttFrontend
from ledmatrix_mqtt.mqtt.remote import RemoteClient
from tests.support.fake_ports import FakeDisplay, FakeStore
from tests.support.mosquitto import MosquittoBroker, Probe, app_config
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
ROOT = "ledmatrix/testpanel"
REPLIES = f"{ROOT}/response/fuzz"

# Lone surrogates (valid JSON as "\ud800" escapes), controls, format characters,
# combining marks, private use and astral symbols.
odd_text = st.text(
    st.characters(categories=["Cs", "Cc", "Cf", "Mn", "So", "Zs", "Lo", "Co"]), max_size=20
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | odd_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "plugin_id",
                    "value",
                    "state",
                    "text",
                    "all",
                    "query",
                    "tags",
                    "force",
                    "transaction",
                    "x",
                    "url",
                ]
            )
            | st.text(max_size=8)
            | odd_text,
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    odd_text.map(lambda t: json.dumps({"text": t, "transaction": t or "t"}).encode()),
    st.text(max_size=300).map(str.encode),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(60_000, 70_000).map(lambda n: b'{"text":"' + b"\xe2\x82\xac" * (n // 3) + b'"}'),
    st.sampled_from([b"null", b"[]", b"\x00\x01\x02", b'{"plugin_id":"../x"}', b'"ON"', b"1e999"]),
)


def test_fuzzed_payloads_never_crash_and_get_exactly_one_response(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b").start()
    store = FakeStore()
    store.add_installed("clock-simple")
    tuning = FrontendTuning(
        rate=1e6,
        burst=1e6,
        display_queue=10_000,
        backoff=Backoff(0.1, 0.5, 1.0),
    )
    config = app_config(broker, tmp_path / "s")
    frontend = MqttFrontend(
        config, store, FakeDisplay(store), state_dir=tmp_path / "s", version="1", tuning=tuning
    )
    frontend.start()
    assert frontend.wait_online(10)
    replies: Counter[bytes] = Counter()
    bodies: list[dict] = []
    lock = threading.Lock()
    probe = Probe(broker, REPLIES)

    def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        with lock:
            replies[msg.properties.CorrelationData] += 1
            bodies.append(json.loads(msg.payload))

    probe.client.on_message = on_message
    sent: list[bytes] = []

    names = [*COMMANDS, "bogus", "ünïcode", "LIST", "list/extra"]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(command=st.sampled_from(names), payload=payloads)
    def send(command: str, payload: bytes) -> None:
        if not payload:
            payload = b" "
        corr = f"c{len(sent)}".encode()
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = REPLIES
        props.CorrelationData = corr
        probe.publish(f"{ROOT}/cmd/{command}", payload, properties=props)
        sent.append(corr)

    try:
        send()
        assert wait_until(lambda: len(replies) >= len(sent), timeout=30)
        # a last command, answered after everything before it: any duplicate is in
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = REPLIES
        props.CorrelationData = b"end"
        probe.publish(f"{ROOT}/cmd/next", b"{}", properties=props)
        assert wait_until(lambda: b"end" in replies)
        del replies[b"end"]
        assert set(replies) == set(sent)
        assert all(n == 1 for n in replies.values())
        for body in bodies:
            assert body["status"] in ("ok", "error")
            if body["status"] == "error":
                assert body["error"]["code"] in ERROR_CODES
        resp = RemoteClient(config).call("list", {}, timeout=5)
        assert resp["status"] == "ok"
        print(f"fuzzed payloads: {len(sent)}")
    finally:
        probe.close()
        frontend.stop()
        broker.stop()


def test_flood_is_rate_limited_with_bounded_memory(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b").start()
    store = FakeStore()
    display = FakeDisplay(store)
    tuning = FrontendTuning(rate=50.0, burst=100.0, backoff=Backoff(0.1, 0.5, 1.0))
    config = app_config(broker, tmp_path / "s")
    frontend = MqttFrontend(
        config, store, display, state_dir=tmp_path / "s", version="1", tuning=tuning
    )
    frontend.start()
    assert frontend.wait_online(10)
    probe = Probe(broker, f"{ROOT}/response/#")
    rss_before = psutil.Process().memory_info().rss
    try:
        n = 5000
        for i in range(n):
            probe.client.publish(
                f"{ROOT}/cmd/next", b'{"x":"' + b"y" * 200 + b'"}' if i % 2 else b"{}", qos=0
            )
        settled = wait_until(
            lambda: len(probe.on(f"{ROOT}/response/next")) + frontend.stats().dropped_inbound >= n,
            30,
            0.1,
        )
        assert settled, "every command of the flood answered or counted as dropped"
        codes = Counter(
            json.loads(p).get("error", {}).get("code", "ok")
            for p in probe.on(f"{ROOT}/response/next")
        )
        assert codes["rate_limited"] > n // 2
        assert codes["ok"] <= 100 + 50 * 30  # burst + rate x elapsed, never the whole flood
        assert frontend.stats().rate_limited == codes["rate_limited"]
        growth_mb = (psutil.Process().memory_info().rss - rss_before) / 2**20
        assert growth_mb < 64, growth_mb
        time.sleep(0.5)  # bucket refills
        assert RemoteClient(config).call("list", {}, timeout=5)["status"] == "ok"
        display.draw((1, 2, 3))  # the display keeps being served
        assert display.state().power is True
    finally:
        probe.close()
        frontend.stop()
        broker.stop()
