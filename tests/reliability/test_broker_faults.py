"""Broker faults against the real Service: 20 mosquitto restarts, then one without persistence.

Each restart: the service notices the loss, is back ``online`` (retained state
republished, subscriptions renewed) within a generous bound, answers a ``list``,
and every QoS 1 command sent while it is connected gets exactly one response.
The measured restart-to-online times are printed (run with ``-s``).
"""

from __future__ import annotations

import json
import statistics
import time

import pytest

from tests.reliability.conftest import ROOT, ServiceEnv, call
from tests.support.mosquitto import retained_snapshot
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
RESTARTS = 20
BURST = 6  # commands per cycle: under the default burst (60) and rate (20/s) limits
ONLINE_BOUND_S = 10.0
DISCOVERY = "homeassistant/device/testpanel/config"  # device-based discovery (the default)


def _online(env: ServiceEnv) -> bool:
    frontend = env.services[-1].frontend
    assert frontend is not None
    return frontend.wait_online(0)


def _send_burst(env: ServiceEnv, probe, cycle: int) -> list[str]:  # type: ignore[no-untyped-def]
    sent = []
    for n in range(BURST):
        command = "next" if n % 2 else "list"
        tx = f"c{cycle}-{n}"
        probe.publish(f"{ROOT}/cmd/{command}", json.dumps({"transaction": tx}), qos=1)
        sent.append(tx)
    return sent


def _answered(probe) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts: dict[str, int] = {}
    for command in ("list", "next"):
        for body in probe.on(f"{ROOT}/response/{command}"):
            doc = json.loads(body)
            assert doc["status"] == "ok", doc
            counts[doc["transaction"]] = counts.get(doc["transaction"], 0) + 1
    return counts


def test_twenty_broker_restarts_service_back_online_and_no_qos1_command_lost(
    env: ServiceEnv,
) -> None:
    svc = env.start()
    probe = env.probe(f"{ROOT}/#")
    assert call(probe, "list")["status"] == "ok"
    times: list[float] = []
    sent: list[str] = []
    for cycle in range(RESTARTS):
        env.broker.stop()
        assert wait_until(lambda: not _online(env), ONLINE_BOUND_S), "the service saw it go"
        time.sleep(0.1)
        env.broker.start()
        online = wait_until(lambda: _online(env), ONLINE_BOUND_S)
        assert online, f"not back online within {ONLINE_BOUND_S} s"
        times.append(online.seconds)
        probe.connected.clear()
        assert wait_until(probe.client.is_connected, 5), "the probe reconnected"
        assert call(probe, "list")["status"] == "ok"  # command subscription renewed
        sent += _send_burst(env, probe, cycle)
        answered = wait_until(lambda s=set(sent): set(_answered(probe)) >= s, 10)  # type: ignore[misc]
        assert answered, "every command of the burst answered"
    counts = _answered(probe)
    assert {tx: counts[tx] for tx in sent} == {tx: 1 for tx in sent}  # none lost, none doubled
    assert retained_snapshot(env.broker, f"{ROOT}/availability", 0.2) == {
        f"{ROOT}/availability": b"online"
    }
    assert svc.display is not None and svc.display.frame_png()
    print(
        f"\nrestart-to-online over {RESTARTS} restarts: min {min(times):.3f} s, "
        f"median {statistics.median(times):.3f} s, max {max(times):.3f} s; "
        f"{len(sent)} QoS 1 commands, {len(sent)} answered exactly once"
    )


def test_restart_without_persistence_republishes_state_and_discovery(env: ServiceEnv) -> None:
    """Regression for Koenkk/zigbee2mqtt#9629: a broker that lost its retained store
    left the device unavailable and undiscovered until it was restarted by hand."""
    env.publish_plugin("weather")
    env.start()
    probe = env.probe(f"{ROOT}/#")
    assert call(probe, "install", {"plugin_id": "weather"}, timeout=20)["status"] == "ok"
    before = retained_snapshot(env.broker, "#", 0.3)
    assert f"{ROOT}/state/plugins/weather" in before
    env.broker.stop()
    assert wait_until(lambda: not _online(env), ONLINE_BOUND_S), "the service saw it go"
    env.broker.persistence = False
    env.broker.start()
    assert wait_until(lambda: _online(env), ONLINE_BOUND_S), "back online"
    expected = {t for t in before if not t.startswith(f"{ROOT}/response/")}
    # the frame goes out on its own thread, at most one interval (1 s) after `online`
    restored = wait_until(lambda: expected <= set(retained_snapshot(env.broker, "#", 0.2)), 5, 0.1)
    assert restored, expected - set(retained_snapshot(env.broker, "#", 0.2))
    after = retained_snapshot(env.broker, "#", 0.3)
    assert after[f"{ROOT}/availability"] == b"online"
    for topic in (f"{ROOT}/state/plugins", f"{ROOT}/state/display", DISCOVERY,
                  f"{ROOT}/state/plugins/weather"):  # fmt: skip
        assert topic in after, topic
    plugins = json.loads(after[f"{ROOT}/state/plugins"])
    assert "weather" in json.dumps(plugins)
    assert json.loads(after[f"{ROOT}/state/display"])["power"] == "ON"
    assert call(probe, "list")["status"] == "ok"
