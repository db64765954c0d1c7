"""A plugin whose load hangs past the publisher's hold window: Home Assistant gets the
device within the window, takes the plugin's ``loading`` state, and its loaded state once
the test releases the load (the plugin's constructor waits for a file)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ha.harness import BASE, ServiceProcess, Watch, retained, write_config
from tests.ha.hass_helpers import UNSET, HaView, assert_clean_log, until
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import PluginShelf
from tests.support.waiting import wait_until

GATED = "rel-load-gate"
PLUGIN_DIR = Path(__file__).resolve().parents[1] / "reliability" / "plugins" / GATED
HOLD_S = 3.0  # ledmatrix_mqtt.mqtt.publisher.LOAD_HOLD_S (this suite cannot import the package)
# HA registering ~40 entities and reading their states, on a shared machine (without the
# window HA waited for the hung load's 30 s deadline)
MARGIN_S = 5.0


@pytest.fixture
def online_at() -> dict[str, float]:
    return {}


@pytest.fixture
def service(
    tmp_path: Path,
    broker: MosquittoBroker,
    store: PluginShelf,
    watch: Watch,
    online_at: dict[str, float],
) -> Iterator[ServiceProcess]:
    """The suite's service, plus GATED installed by hand, its load blocked until
    ``tmp_path/release-the-load`` exists."""
    config_path = write_config(tmp_path / "etc", broker, store)
    doc = json.loads(config_path.read_text())  # the harness writes it as JSON (YAML 1.2)
    doc["plugins"][GATED] = {"enabled": True, "release_file": str(tmp_path / "release-the-load")}
    config_path.write_text(json.dumps(doc, indent=2) + "\n")
    shutil.copytree(PLUGIN_DIR, Path(doc["state_dir"]) / "plugins" / GATED)
    proc = ServiceProcess(config_path).start()
    try:
        online = wait_until(lambda: retained(broker, f"{BASE}/availability") == b"online", 30)
        assert online, proc.log()
        online_at["t"] = time.monotonic()
        yield proc
    finally:
        proc.stop()
        print(f"--- service log (tail) ---\n{proc.log()[-6000:]}")  # shown when a test fails


async def test_plugin_still_loading_is_announced_in_time_with_a_state_ha_accepts(
    ha: HaView,
    watch: Watch,
    broker: MosquittoBroker,
    tmp_path: Path,
    online_at: dict[str, float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    took = time.monotonic() - online_at["t"]  # the ha fixture waited for every entity
    print(f"\nevery entity in HA {took:.1f} s after online")
    assert took < HOLD_S + MARGIN_S, f"{took:.1f} s after online"
    topic = f"{BASE}/state/plugins/{GATED}"
    held = json.loads(retained(broker, topic))
    assert (held["loaded"], held["loading"]) == (False, True), held
    update = ha.entity_id(f"plugin_{GATED}_update", "update")
    switch = ha.entity_id(f"plugin_{GATED}_enabled", "switch")
    # HA registers the entities, then reads their retained state: a rejected one stays unknown
    await until(
        ha.hass,
        lambda: ha.value(update) not in UNSET and ha.value(switch) not in UNSET,
        10,
        lambda: (ha.state(update), ha.state(switch)),
    )
    assert ha.value(update) == "off", ha.state(update)  # installed is the latest
    assert ha.attr(update, "installed_version") == "1.0.0"
    assert ha.value(switch) == "on"

    (tmp_path / "release-the-load").touch()
    await until(ha.hass, lambda: (watch.latest_json(topic) or {}).get("loaded"), 10, "loaded")
    show = ha.entity_id("show", "select")
    await until(ha.hass, lambda: GATED in (ha.attr(show, "options") or []), 10, "in rotation")
    assert ha.value(update) == "off" and ha.value(switch) == "on"
    assert ha.value(show) not in UNSET
    assert_clean_log(caplog)
