"""The real service's one store queue, over the real broker, while a download stalls.

The fake GitHub holds one plugin's archive download open for a few seconds;
meanwhile switches and ``list`` must answer at once, and a double-clicked
install must be answered ``busy`` without a second download.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.e2e.conftest import ROOT, Appliance, PluginShelf, wait_json

pytestmark = pytest.mark.broker
STALL_S = 4.0


def test_switches_answer_in_50ms_and_a_double_click_is_busy_while_a_download_stalls(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    """Regression for issue 10.1/10.2 and issue 9: ``disable`` got no answer within 2 s
    during an install, and a second identical install was queued and downloaded again."""
    shelf.publish("quick", "1.0.0")
    shelf.publish("slow", "1.0.0")
    assert appliance.command("install", {"plugin_id": "quick"})["status"] == "ok"
    shelf.fake.add_fault(r"^/codeload/tests/slow/", "stall", STALL_S)
    ha = appliance.ha
    ha.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ha.publish(f"{ROOT}/cmd/install", json.dumps({"plugin_id": "slow", "transaction": "slow-1"}))
    wait_json(
        ha,
        f"{ROOT}/state/operation",
        lambda d: d["plugin_id"] == "slow" and d["status"] == "running",
    )
    held_since = time.monotonic()

    second = appliance.command("install", {"plugin_id": "slow"}, timeout=2)
    assert second["status"] == "error" and second["error"]["code"] == "busy", second

    latencies: dict[str, list[float]] = {"disable": [], "enable": [], "list": []}
    for _ in range(5):
        for command in latencies:
            payload = {} if command == "list" else {"plugin_id": "quick"}
            started = time.perf_counter()
            assert appliance.command(command, payload, timeout=2)["status"] == "ok"
            latencies[command].append(time.perf_counter() - started)
    assert time.monotonic() - held_since < STALL_S, "measure while the download is held"
    answered = [json.loads(p) for p in ha.on(f"{ROOT}/response/install")]
    assert not any(a.get("transaction") == "slow-1" for a in answered)
    medians = {c: sorted(v)[len(v) // 2] for c, v in latencies.items()}
    print("real store, download stalled: median round trip (s)", medians)
    # They never wait behind the install (it is still held). What remains is the switch's
    # own work (config.yaml edit with fsync, plugin reload): tens of ms on a loaded VM,
    # so the 50 ms bound of the front end is asserted with the store port faked
    # (tests/integration/test_mqtt_queue_and_floods.py); here: far below the stall.
    assert medians["list"] < 0.05, medians
    assert all(m < 0.5 for m in medians.values()), medians

    done = wait_json(ha, f"{ROOT}/response/install", lambda d: d.get("transaction") == "slow-1", 20)
    assert done["status"] == "ok", done
    assert len(shelf.fake.requests(r"^/codeload/tests/slow/")) == 1
