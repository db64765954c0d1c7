"""The one store queue seen over MQTT, bounded work per inbound message, restarts.

Real mosquitto; the store port is the test fake, but its mutations run on the
real ``OperationQueue`` (its duplicate rule and snapshots are what is tested).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.mqtt.echoes import MAX_NOTED
from ledmatrix_mqtt.mqtt.frontend import FrontendTuning
from tests.integration.frontend_env import FAST, ROOT, Service, make_service, retained
from tests.support.mosquitto import MosquittoBroker, Probe
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def publish(service: Service, command: str, payload: dict) -> None:
    service.probe.publish(f"{ROOT}/cmd/{command}", json.dumps(payload))


def answer(service: Service, command: str, tx: str, timeout: float = 5.0) -> dict:
    """The response to ``command`` carrying transaction ``tx`` (waits on the probe)."""
    topic = f"{ROOT}/response/{command}"

    def match(t: str, p: bytes, r: bool) -> bool:
        return t == topic and json.loads(p).get("transaction") == tx

    _t, payload, _r = service.probe.wait_for(match, timeout)
    return dict(json.loads(payload))


@pytest.fixture
def held_install(service: Service):  # type: ignore[no-untyped-def]
    """An install of ``weather`` held open in the store queue until the test releases it."""
    gate = threading.Event()
    service.store.install_gate = gate
    publish(service, "install", {"plugin_id": "weather", "transaction": "held"})
    op = f"{ROOT}/state/operation"
    service.probe.wait_for(
        lambda t, p, r: (
            t == op
            and json.loads(p)["status"] == "running"
            and json.loads(p)["plugin_id"] == "weather"
        )
    )
    yield gate
    gate.set()


def test_double_clicked_install_runs_once_and_the_second_answers_busy(
    service: Service, held_install: threading.Event
) -> None:
    """Regression for issue 10/9: the front end's own worker blocked on the queue's future,
    so a second identical install was queued and downloaded again instead of ``busy``."""
    publish(service, "install", {"plugin_id": "weather", "transaction": "click-2"})
    second = answer(service, "install", "click-2")
    assert second["status"] == "error" and second["error"]["code"] == "busy"
    held_install.set()
    first = answer(service, "install", "held")
    assert first["status"] == "ok"
    assert service.store.calls.count("install") == 1


def test_disable_and_list_answer_within_50ms_while_an_install_is_held_open(
    service: Service, held_install: threading.Event
) -> None:
    """Regression for issue 10.1: ``disable`` waited behind a running install (no answer
    within 2 s). Measured over the real broker, round trip from publish to response."""
    # like the service's own connection: no Nagle delay on the measuring client
    service.probe.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: dict[str, list[float]] = {"disable": [], "enable": [], "list": []}
    for i in range(10):
        for command in latencies:
            payload = {} if command == "list" else {"plugin_id": "clock-simple"}
            tx = f"{command}-{i}"
            start = time.perf_counter()
            publish(service, command, {**payload, "transaction": tx})
            assert answer(service, command, tx)["status"] == "ok"
            latencies[command].append(time.perf_counter() - start)
    assert not any(
        json.loads(p).get("transaction") == "held"
        for p in service.probe.on(f"{ROOT}/response/install")
    ), "the install must still be running while we measure"
    medians = {c: sorted(v)[len(v) // 2] for c, v in latencies.items()}
    print("latency while an install is held (median s):", medians)
    assert all(m < 0.05 for m in medians.values()), medians


def test_three_thousand_ha_births_cost_one_timer_and_a_couple_of_republishes(
    service: Service,
) -> None:
    """Regression for issue 11.3: 3,000 ``homeassistant/status`` births made 1,909 threads
    and 16,209 republished discovery configs."""
    config_topic = "homeassistant/light/testpanel/panel/config"
    before = len(service.probe.on(config_topic))
    threads_before = threading.active_count()
    peak = threads_before
    for i in range(3000):
        service.probe.publish("homeassistant/status", b"online", qos=0)
        if i % 100 == 0:
            peak = max(peak, threading.active_count())
    # flush: a command published after the births is answered after they were handled
    started = time.perf_counter()
    publish(service, "list", {"transaction": "after-births"})
    assert answer(service, "list", "after-births", timeout=10)["status"] == "ok"
    drained = time.perf_counter() - started  # includes the probe's own 3,000 echoes
    started = time.perf_counter()
    publish(service, "list", {"transaction": "next-list"})
    assert answer(service, "list", "next-list")["status"] == "ok"
    list_latency = time.perf_counter() - started
    assert wait_until(lambda: len(service.probe.on(config_topic)) > before)
    peak = max(peak, threading.active_count())
    scheduled = service.frontend.stats().births_scheduled
    print(
        f"3,000 births: threads +{peak - threads_before}, republishes scheduled {scheduled}, "
        f"list behind the flood {drained * 1000:.0f} ms, next list {list_latency * 1000:.1f} ms"
    )
    assert peak - threads_before < 5
    assert 1 <= scheduled <= 2
    assert list_latency < 0.05


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_clean_restart_republishes_once_without_a_false_overwritten_warning(
    broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    """Regression for issue 9: our previous run's retained ``offline`` arrived after we
    connected; every restart warned "availability overwritten" and republished twice."""
    service = make_service(broker, tmp_path / "s", protocol=protocol)
    config_topic = "homeassistant/light/testpanel/panel/config"
    service.frontend.stop()
    assert retained(broker)[f"{ROOT}/availability"] == b"offline"  # what a replay would carry
    watcher = Probe(broker, config_topic)
    try:
        with caplog.at_level(logging.WARNING, logger="ledmatrix_mqtt.mqtt.echoes"):
            service.restart_frontend(FAST, protocol=protocol)
            publish(service, "next", {"transaction": "settled"})
            answer(service, "next", "settled")
            assert retained(broker)[f"{ROOT}/availability"] == b"online"
            publish(service, "next", {"transaction": "settled-2"})
            answer(service, "next", "settled-2")
        assert not [r for r in caplog.records if "overwritten" in r.getMessage()]
        live = [p for t, p, r in watcher.messages if not r]
        assert len(live) == 1, len(live)
    finally:
        watcher.close()
        service.probe.close()
        service.frontend.stop()


@pytest.mark.parametrize("topic", ["state/display", "state/plugins", "state/plugins/clock-simple"])
def test_retained_state_deleted_by_another_client_is_restored(service: Service, topic: str) -> None:
    """Regression for issue 11.11: retained state cleared by another client stayed gone."""
    full = f"{ROOT}/{topic}"
    assert full in retained(service.broker)
    service.probe.clear()
    service.probe.publish(full, b"", retain=True)
    service.probe.wait_for(lambda t, p, r: t == full and not p)
    service.probe.wait_for(lambda t, p, r: t == full and bool(p))  # republished after the clear
    assert full in retained(service.broker)


def test_a_list_with_a_transaction_writes_nothing_to_disk_and_a_switch_one_line(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Regression for issue 11.2: 200 ``list`` commands with a transaction wrote 25 MB."""
    svc = make_service(broker, tmp_path / "s")
    try:
        journal = tmp_path / "s" / "mqtt" / "transactions.jsonl"
        for i in range(200):
            publish(svc, "list", {"transaction": f"l-{i}"})
        answer(svc, "list", "l-199")
        assert not journal.exists()
        sizes = []
        for i in range(10):
            publish(
                svc,
                "disable" if i % 2 else "enable",
                {"plugin_id": "clock-simple", "transaction": f"s-{i}"},
            )
            answer(svc, "disable" if i % 2 else "enable", f"s-{i}")
            sizes.append(journal.stat().st_size)
        per_command = [b - a for a, b in zip([0, *sizes[:-1]], sizes, strict=True)]
        print("journal bytes per enable/disable:", per_command)
        assert max(per_command) < 1024
    finally:
        svc.probe.close()
        svc.frontend.stop()


def test_retained_state_replayed_at_start_is_cleared_without_spending_the_command_budget(
    service: Service,
) -> None:
    """Retained replays on subscribe are bounded by the broker's store: 30 stale plugin
    states from an earlier run are all cleared and a command right after start still runs
    within a tight budget (burst 5)."""
    service.frontend.stop()
    stale = [f"{ROOT}/state/plugins/gone-{i}" for i in range(30)]
    for topic in stale:
        service.probe.publish(topic, b'{"id":"gone"}', retain=True)
    service.probe.wait_for(lambda t, p, r: t == stale[-1])
    tight = FrontendTuning(rate=0.5, burst=5.0, birth_delay=(0.05, 0.1))
    service.restart_frontend(tight)
    publish(service, "list", {"transaction": "first"})
    assert answer(service, "list", "first")["status"] == "ok"
    assert wait_until(lambda: not set(stale) & set(retained(service.broker)), timeout=10)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("availability", lambda i: (f"{ROOT}/availability", b"offline", False)),
        ("unknown plugin states", lambda i: (f"{ROOT}/state/plugins/x{i}", b"{}", True)),
        ("state deletions", lambda i: (f"{ROOT}/state/display", b"", True)),
        ("HA births", lambda i: ("homeassistant/status", b"online", False)),
    ],
)
def test_a_flood_on_any_subscribed_topic_leaves_the_service_answering(
    service: Service, kind: str, message: object
) -> None:
    """Issue 11.3/11.11: bounded work per inbound message of every kind."""
    threads_before = threading.active_count()
    for i in range(2000):
        topic, payload, retain = message(i)  # type: ignore[operator]
        service.probe.publish(topic, payload, retain=retain, qos=0)
    # every command is answered (maybe rate_limited while the budget refills), and
    # a list gets through
    tries = iter(range(1000))

    def listed() -> bool:
        tx = f"after-{kind}-{next(tries)}"
        publish(service, "list", {"transaction": tx})
        return answer(service, "list", tx)["status"] == "ok"

    assert wait_until(listed, timeout=15)
    assert threading.active_count() - threads_before < 5
    assert wait_until(lambda: retained(service.broker).get(f"{ROOT}/availability") == b"online")
    assert wait_until(lambda: f"{ROOT}/state/display" in retained(service.broker))
    if kind == "unknown plugin states":  # at most MAX_NOTED wait; the rest at the next connect

        def left() -> int:
            return sum("/state/plugins/x" in t for t in retained(service.broker))

        assert wait_until(lambda: left() <= 2000 - MAX_NOTED, 20), left()
