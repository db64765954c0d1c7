"""A plugin load that hangs holds back discovery for the publisher's hold window only.

Until the first complete publish after a connect, loads in flight hold back
discovery, ``state/plugins`` and their own state (so a restart publishes each
topic once: ``test_service_restart.py``). The real Service, on a real broker,
with a plugin whose constructor blocks until the test releases it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.mqtt.publisher import LOAD_HOLD_S
from ledmatrix_mqtt.runtime.plugin_table import LOAD_TIMEOUT_S
from tests.reliability.conftest import ROOT, ServiceEnv, call
from tests.support.mosquitto import Probe

pytestmark = pytest.mark.broker
PLUGINS = Path(__file__).parent / "plugins"
GATED = "rel-load-gate"
DISCOVERY = "homeassistant/device/testpanel/config"
MARGIN_S = 2.0  # connect and the first publish come before the window starts, on a busy CI box


def _arrival(probe: Probe, topic: str, started: float, timeout: float) -> float:
    """Seconds from ``started`` until the first message on ``topic``."""
    probe.wait_for(lambda t, _p, _r: t == topic, timeout)
    return time.monotonic() - started


def _plugin_counts(probe: Probe) -> Counter[str]:
    """Messages on the device's discovery config and on plugin state (a first start also
    migrates per-entity configs an older version may have left: two messages each)."""
    watched = (DISCOVERY, f"{ROOT}/state/plugins")
    return Counter(t for t, _p, _r in probe.messages if t.startswith(watched))


def _last(probe: Probe, topic: str) -> dict[str, Any]:
    return dict(json.loads(probe.on(topic)[-1]))


def test_hung_load_holds_discovery_for_the_hold_window_then_its_state_follows_alone(
    env: ServiceEnv,
) -> None:
    gate = env.root / "release-the-load"
    env.plugins = {"clock": {"enabled": True}, GATED: {"enabled": True, "release_file": str(gate)}}
    shutil.copytree(PLUGINS / GATED, env.state_dir / "plugins" / GATED)
    probe = env.probe("#")
    started = time.monotonic()
    svc = env.start(reconcile=False)
    clock_at = _arrival(probe, f"{ROOT}/state/plugins/clock", started, LOAD_HOLD_S + MARGIN_S)
    seen = _arrival(probe, DISCOVERY, started, LOAD_TIMEOUT_S + MARGIN_S)  # without the window
    print(f"\nclock state {clock_at:.2f} s, discovery {seen:.2f} s after start")
    assert clock_at < LOAD_HOLD_S, "a settled plugin's state waited for the hung load"
    assert LOAD_HOLD_S <= seen <= LOAD_HOLD_S + MARGIN_S, f"discovery after {seen:.2f} s"
    gated_topic = f"{ROOT}/state/plugins/{GATED}"
    assert call(probe, "next")["status"] == "ok"  # the window's publish has left
    held = _last(probe, gated_topic)
    assert (held["loaded"], held["loading"], held["error"]) == (False, True, "")
    listed = {p["id"]: p for p in _last(probe, f"{ROOT}/state/plugins")["plugins"]}
    assert listed[GATED]["loading"] is True and listed["clock"]["loaded"] is True
    before = _plugin_counts(probe)
    assert {t: n for t, n in before.items() if n != 1} == {}, "each topic once until released"

    gate.touch()
    probe.wait_for(lambda t, p, _r: t == gated_topic and json.loads(p)["loaded"], 10.0)
    assert svc.display is not None and svc.display.wait_loaded(10)
    assert call(probe, "next")["status"] == "ok"  # republishes queued before it have left
    after = _plugin_counts(probe) - before
    assert after[gated_topic] == 1
    loaded = _last(probe, gated_topic)
    assert (loaded["loaded"], loaded["loading"], loaded["healthy"]) == (True, False, True)
    others = {t for t in after if t.startswith(f"{ROOT}/state/plugins/")} - {gated_topic}
    assert others == set(), "only the released plugin's state goes out again"
