"""A clean restart of the real Service: each retained topic once, the panel lit at once.

A restart republishes discovery and every plugin's state; plugin loads wait for
``online``, so a naive republish sends each plugin's state twice (loading, then
loaded). With the broker down, the panel must still show a plugin at once.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ledmatrix_mqtt.app import Service
from ledmatrix_mqtt.configfile import load_config
from tests.reliability.conftest import ROOT, ServiceEnv, call, write_config
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import Probe, retained_snapshot
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
DISCOVERY = "homeassistant/device/testpanel/config"
FIRST_FRAME_BOUND_S = 3.0  # far under the 10 s the loads wait for a broker that is down


def _installed_then_restarted(
    env: ServiceEnv, between: Callable[[], object] = lambda: None
) -> tuple[Service, Probe]:
    """weather installed through a first run, ``between`` run, then a restart watched live
    from its start by one probe on everything.

    Returns once the restarted service is online, its loads have settled and the
    start-up reconcile's republish has gone out (a ``next`` answered after it)."""
    env.publish_plugin("weather")
    env.start()
    first = env.probe(f"{ROOT}/#")
    assert call(first, "install", {"plugin_id": "weather"}, timeout=20)["status"] == "ok"
    env.stop_services()
    between()
    probe = env.probe("#")  # one client: responses arrive after what was published before
    svc = env.start()
    assert svc.reconcile_done.wait(30)
    assert svc.display is not None and svc.display.wait_loaded(30)
    # the display worker runs queued republishes in order: they left before this answer
    assert call(probe, "next")["status"] == "ok"
    return svc, probe


def _live_counts(probe: Probe) -> Counter[str]:
    """This run's messages per discovery and plugin-state topic (replays excluded)."""
    watched = ("homeassistant/", f"{ROOT}/state/plugins")
    return Counter(
        t for t, _p, retained in probe.messages if not retained and t.startswith(watched)
    )


def test_clean_restart_publishes_each_discovery_and_plugin_state_topic_once(
    env: ServiceEnv,
) -> None:
    _svc, probe = _installed_then_restarted(env)
    counts = _live_counts(probe)
    assert {t: n for t, n in counts.items() if n != 1} == {}
    for topic in (DISCOVERY, f"{ROOT}/state/plugins", f"{ROOT}/state/plugins/weather",
                  f"{ROOT}/state/plugins/clock"):  # fmt: skip
        assert counts[topic] == 1, topic
    weather = json.loads(probe.on(f"{ROOT}/state/plugins/weather")[-1])
    assert weather["loaded"] is True and weather["healthy"] is True
    assert probe.on(f"{ROOT}/availability").count(b"online") == 1


def test_plugin_that_fails_to_load_after_a_restart_shows_its_error_in_retained_state(
    env: ServiceEnv,
) -> None:
    manager = env.state_dir / "plugins" / "weather" / "manager.py"
    _svc, probe = _installed_then_restarted(
        env, lambda: manager.write_text("raise RuntimeError('broken between runs')\n")
    )
    retained = retained_snapshot(env.broker, f"{ROOT}/state/plugins/#", 0.3)
    weather = json.loads(retained[f"{ROOT}/state/plugins/weather"])
    assert weather["loaded"] is False and "broken between runs" in weather["error"]
    listed = json.loads(retained[f"{ROOT}/state/plugins"])["plugins"]
    assert [p["loaded"] for p in listed if p["id"] == "weather"] == [False]
    assert {t: n for t, n in _live_counts(probe).items() if n != 1} == {}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_panel_shows_the_clock_at_once_while_the_broker_is_down(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    config = write_config(
        tmp_path / "etc" / "config.yaml",
        state_dir=tmp_path / "state",
        broker_port=_closed_port(),
        store=fake_github.store_config(),
        plugins={"clock": {"enabled": True}, "status": {"enabled": True}},
    )
    started = time.monotonic()
    svc = Service(load_config(config), startup_reconcile=False)
    svc.start()
    try:
        assert svc.display is not None and svc.frontend is not None

        def lit() -> bool:
            assert svc.display is not None
            return svc.display.frame_image().getbbox() is not None

        assert wait_until(lit, FIRST_FRAME_BOUND_S), "the panel stayed dark"
        print(f"\nfirst lit frame {time.monotonic() - started:.2f} s after start, broker down")
        assert svc.display.state().current_plugin == "clock"
        assert not svc.frontend.wait_online(0)
        status = {s.plugin_id: s for s in svc.display.runtime_status()}["status"]
        assert not status.loaded, "the other loads still wait for online"
    finally:
        svc.stop()
