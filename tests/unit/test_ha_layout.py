"""Moving discovery between layouts, places and entity sets without orphaned entities."""

from __future__ import annotations

import json

from ledmatrix_mqtt.core.models import InstalledPlugin, PluginSource
from ledmatrix_mqtt.mqtt import discovery
from ledmatrix_mqtt.mqtt.discovery import DeviceInfo
from ledmatrix_mqtt.mqtt.ha_layout import Ledger, plan, retire
from ledmatrix_mqtt.mqtt.messages import Message
from ledmatrix_mqtt.mqtt.topics import Topics

T = Topics("ledmatrix", "panel1", "homeassistant")
INFO = DeviceInfo("panel1", "Kitchen Panel", "0.3.0")
CLOCK = InstalledPlugin("clock", "Clock", "1.0.0", "/p", PluginSource.BUILTIN, True)
DEVICE_TOPIC = "homeassistant/device/panel1/config"


def comps(*plugins: InstalledPlugin) -> list[discovery.Component]:
    return discovery.device_components(T, INFO, list(plugins), ["clock"])


def steps(msgs: list[Message]) -> list[tuple[str, object]]:
    """(topic, payload) with JSON decoded, an empty payload as ''."""
    return [(m.topic, m.json() if m.payload else "") for m in msgs]


def test_first_start_in_device_mode_migrates_the_per_entity_configs_of_older_versions() -> None:
    now = comps(CLOCK)
    msgs, ledger = plan(T, INFO, "device", now, None)
    seen = steps(msgs)
    per_entity = [discovery_topic(c) for c in now]
    for topic in per_entity:  # migrate (HA keeps the registry entry), then empty
        i = seen.index((topic, {"migrate_discovery": True}))
        assert seen[i + 1] == (topic, "")
    assert seen[-1][0] == DEVICE_TOPIC and len(seen) == 2 * len(per_entity) + 1
    assert all(m.retain for m in msgs)
    assert ledger == Ledger("device", "homeassistant", "panel1", {c.key: c.platform for c in now})


def discovery_topic(c: discovery.Component) -> str:
    return f"homeassistant/{c.platform}/panel1/{c.key}/config"


def test_device_mode_after_device_mode_sends_only_the_device_config() -> None:
    now = comps(CLOCK)
    _, ledger = plan(T, INFO, "device", now, None)
    msgs, again = plan(T, INFO, "device", now, ledger)
    assert [m.topic for m in msgs] == [DEVICE_TOPIC] and again == ledger


def test_a_removed_plugin_gets_the_platform_only_removal_form_once() -> None:
    _, ledger = plan(T, INFO, "device", comps(CLOCK), None)
    msgs, after = plan(T, INFO, "device", comps(), ledger)
    cmps = json.loads(msgs[-1].payload)["cmps"]
    assert cmps["plugin_clock_update"] == {"platform": "update"}
    assert cmps["plugin_clock_enabled"] == {"platform": "switch"}
    assert cmps["plugin_clock_uninstall"] == {"platform": "button"}
    msgs, _ = plan(T, INFO, "device", comps(), after)
    assert "plugin_clock_update" not in json.loads(msgs[-1].payload)["cmps"]


def test_switching_to_entity_mode_empties_the_device_config_first() -> None:
    now = comps(CLOCK)
    _, ledger = plan(T, INFO, "device", now, None)
    msgs, after = plan(T, INFO, "entity", now, ledger)
    assert steps(msgs)[0] == (DEVICE_TOPIC, "")
    assert [m.topic for m in msgs[1:]] == [discovery_topic(c) for c in now]
    assert after.mode == "entity"
    body = msgs[1].json()
    assert body["device"]["identifiers"] == ["ledmatrix_panel1"]
    assert body["availability"] == [{"topic": T.availability}]


def test_entity_mode_empties_the_configs_of_a_removed_plugin() -> None:
    _, ledger = plan(T, INFO, "entity", comps(CLOCK), Ledger("entity", "homeassistant", "panel1"))
    msgs, _ = plan(T, INFO, "entity", comps(), ledger)
    cleared = {m.topic for m in msgs if m.is_clear}
    assert cleared == {
        "homeassistant/update/panel1/plugin_clock_update/config",
        "homeassistant/switch/panel1/plugin_clock_enabled/config",
        "homeassistant/button/panel1/plugin_clock_uninstall/config",
    }


def test_a_new_device_id_or_prefix_empties_the_old_place() -> None:
    _, ledger = plan(Topics("ledmatrix", "old", "homeassistant"), INFO, "device", comps(), None)
    msgs, _ = plan(T, INFO, "device", comps(), ledger)
    assert steps(msgs) == [("homeassistant/device/old/config", ""), (DEVICE_TOPIC, msgs[1].json())]
    _, ledger = plan(T, INFO, "entity", comps(), Ledger("entity", "ha", "panel1"))
    elsewhere = Ledger("entity", "ha", "panel1", ledger.components)
    msgs, _ = plan(T, INFO, "device", comps(), elsewhere)
    old = [m.topic for m in msgs if m.topic.startswith("ha/")]
    assert old and all(m.is_clear for m in msgs if m.topic.startswith("ha/"))
    assert not any(m.json() == {"migrate_discovery": True} for m in msgs if m.payload)


def test_ledger_round_trips_and_rejects_junk() -> None:
    ledger = Ledger("device", "homeassistant", "panel1", {"panel": "light"})
    assert Ledger.from_data(json.loads(json.dumps(ledger.to_data()))) == ledger
    for junk in (None, [], {"mode": "x"}, {**ledger.to_data(), "components": {"a": 1}}):
        assert Ledger.from_data(junk) is None


def test_retire_empties_whatever_the_ledger_records() -> None:
    device = Ledger("device", "homeassistant", "panel1", {"panel": "light"})
    assert steps(retire(device)) == [(DEVICE_TOPIC, "")]
    entity = Ledger("entity", "homeassistant", "panel1", {"panel": "light", "next": "button"})
    assert steps(retire(entity)) == [
        ("homeassistant/button/panel1/next/config", ""),
        ("homeassistant/light/panel1/panel/config", ""),
    ]
