"""Discovery layouts over a real broker: upgrading, restarting and switching leave no orphans.

An older version published one retained config per entity; the service now
publishes one device config. Home Assistant keeps an entity (its entity id and
history) across such a move only if it is first told ``migrate_discovery`` on the
old topic, and it logs a conflict for any config left on a topic of the other
layout. These tests play the broker side of that protocol with the real service.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    DEVICE_ID,
    ROOT,
    Appliance,
    PluginShelf,
    start_appliance,
    write_config,
)
from tests.support import ha_rules, yamlio
from tests.support.mosquitto import MosquittoBroker, Probe
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PREFIX = "homeassistant"
DEVICE_TOPIC = f"{PREFIX}/device/{DEVICE_ID}/config"
MIGRATE = {"migrate_discovery": True}
# What the version before device discovery left on a user's broker (a sample of it).
LEGACY = {
    f"{PREFIX}/light/{DEVICE_ID}/panel/config": "light",
    f"{PREFIX}/update/{DEVICE_ID}/plugin_clock_update/config": "update",
    f"{PREFIX}/switch/{DEVICE_ID}/plugin_clock_enabled/config": "switch",
    f"{PREFIX}/update/{DEVICE_ID}/plugin_gone_update/config": "update",  # uninstalled meanwhile
}


def seed_legacy(broker: MosquittoBroker) -> None:
    probe = Probe(broker, f"{PREFIX}/#")
    try:
        for topic in LEGACY:
            key = topic.split("/")[3]
            body = {"unique_id": f"ledmatrix_{DEVICE_ID}_{key}", "state_topic": f"{ROOT}/x"}
            probe.publish(topic, json.dumps(body), retain=True)
        # and the retained state of the plugin that was uninstalled while it was stopped
        probe.publish(f"{ROOT}/state/plugins/gone", json.dumps({"id": "gone"}), retain=True)
        probe.wait_for(lambda t, p, r: t == list(LEGACY)[-1], timeout=5)
    finally:
        probe.close()


def set_discovery(path: Path, **discovery: object) -> None:
    document = yamlio.read(path)
    document["mqtt"]["discovery"] = discovery
    path.write_text(yamlio.dump(document))


def discovery_log(app: Appliance) -> list[tuple[str, Any]]:
    """Discovery messages HA saw, in order: (topic, decoded JSON or '')."""
    return [
        (t, json.loads(p) if p else "")
        for t, p, _ in app.ha.messages
        if t.startswith(f"{PREFIX}/") and t != f"{PREFIX}/status"
    ]


def restart(app: Appliance) -> Appliance:
    app.stop()
    return start_appliance(app.config_path, app.broker)


def discovery_when(app: Appliance, ok: Callable[[dict[str, bytes]], bool]) -> dict[str, bytes]:
    """The retained discovery once ``ok`` holds: after a restart the service publishes it
    when the plugin loads have settled, which may be after ``online`` and the reconcile."""

    def settled() -> tuple[dict[str, bytes]] | None:  # a tuple: an empty dict may be the answer
        retained = app.retained(f"{PREFIX}/#")
        return (retained,) if ok(retained) else None

    waited = wait_until(settled, 15, step=0.1)
    assert waited, sorted(t for t, p in app.retained(f"{PREFIX}/#").items() if p)
    assert isinstance(waited.value, tuple)
    return waited.value[0]


def only_device(retained: dict[str, bytes]) -> bool:
    return [t for t, p in retained.items() if p] == [DEVICE_TOPIC]


def settled_device(retained: dict[str, bytes]) -> bool:
    """The device layout with the text plugin's settings entities (they follow its load)."""
    return only_device(retained) and "plugin_text_set_speed" in ha_rules.entities(
        retained, PREFIX, DEVICE_ID
    )


def test_upgrade_from_per_entity_configs_migrates_once_and_leaves_one_layout(
    tmp_path: Path, broker: MosquittoBroker, shelf: PluginShelf
) -> None:
    seed_legacy(broker)
    watcher = Probe(broker, f"{PREFIX}/#")  # sees the upgrade as HA does, from the start
    path = write_config(tmp_path / "etc", port=broker.port, store=shelf.fake.store_config())
    app = start_appliance(path, broker)
    try:
        gone = f"{PREFIX}/update/{DEVICE_ID}/plugin_gone_update/config"

        def migrated() -> bool:  # the removal and the new device config both went out
            live = [t for t, p, r in watcher.messages if not r]
            return (gone, b"", False) in watcher.messages and DEVICE_TOPIC in live

        assert wait_until(migrated, 10)
        seen = [(t, json.loads(p) if p else "") for t, p, r in watcher.messages if not r]
        device_at = seen.index(next(s for s in seen if s[0] == DEVICE_TOPIC))
        for topic in set(LEGACY) - {gone}:  # still provided: HA keeps the registry entry
            cleared = seen.index((topic, ""))
            assert seen.index((topic, MIGRATE)) < cleared < device_at, topic
        assert (gone, MIGRATE) not in seen, "no longer provided: HA removes the entity"
        assert not app.retained(f"{ROOT}/state/plugins/gone")
        retained = discovery_when(app, settled_device)
        ents = ha_rules.entities(retained, PREFIX, DEVICE_ID)
        assert ents["panel"]["unique_id"] == f"ledmatrix_{DEVICE_ID}_panel"
        assert (
            ents["plugin_clock_update"]["unique_id"] == f"ledmatrix_{DEVICE_ID}_plugin_clock_update"
        )
        ledger = json.loads((app.state_dir / "mqtt" / "discovery.json").read_text())
        assert ledger["mode"] == "device" and "panel" in ledger["components"]

        # -- a restart (and HA's birth) republishes the device config, and nothing else --
        app = restart(app)
        app.ha.clear()
        app.ha.publish(f"{PREFIX}/status", "online")
        app.ha.wait_for(lambda t, p, r: t == DEVICE_TOPIC and not r, timeout=20)
        assert {t for t, _ in discovery_log(app)} == {DEVICE_TOPIC}

        # -- switching to entity mode (older HA): device config emptied first -------------
        set_discovery(path, mode="entity")
        app = restart(app)
        # every entity of the device layout, each in its own config (they arrive one by one)
        retained = discovery_when(
            app,
            lambda r: (
                DEVICE_TOPIC not in r and set(ha_rules.entities(r, PREFIX, DEVICE_ID)) == set(ents)
            ),
        )
        assert f"{PREFIX}/light/{DEVICE_ID}/panel/config" in retained
        per_entity = ha_rules.entities(retained, PREFIX, DEVICE_ID)
        assert per_entity["panel"]["unique_id"] == f"ledmatrix_{DEVICE_ID}_panel"
        assert per_entity["panel"]["device"]["identifiers"] == [f"ledmatrix_{DEVICE_ID}"]

        # -- and back: migrate + empty every per-entity config, then the device config ----
        set_discovery(path, mode="device")
        app = restart(app)
        retained = discovery_when(app, settled_device)
        assert set(ha_rules.entities(retained, PREFIX, DEVICE_ID)) == set(ents)

        # -- discovery turned off: the device and its entities leave Home Assistant -------
        set_discovery(path, enabled=False)
        app = restart(app)
        discovery_when(app, lambda r: not [t for t, p in r.items() if p])
        assert not (app.state_dir / "mqtt" / "discovery.json").exists()
    finally:
        watcher.close()
        app.stop()
