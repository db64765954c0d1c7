"""Issue 4's "done means", as a Home Assistant user lives it.

"A person with Home Assistant and a broker points the service at them, sees
the device and its entities appear, installs a plugin from the store by id,
watches it rotate on the panel and the frame image, updates and uninstalls it,
and every step is reflected in the retained state."

The real ``Service`` runs from a config file against a real mosquitto and the
fake GitHub store; a paho client plays Home Assistant and drives the entities
only through the topics and payloads their discovery configs announce (as HA's
templates render them). Every discovery config and every update-entity state
goes through Home Assistant's acceptance rules (tests/support/ha_rules).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CONFIG_COMMENT,
    DEVICE_ID,
    PANEL_SIZE,
    ROOT,
    Appliance,
    PluginShelf,
    colours,
    decode_png,
    is_blank,
    wait_json,
)
from tests.support import ha_rules, yamlio
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PREFIX = "homeassistant"
PLUGIN = "weather-lite"
BUILTINS = ("clock", "status", "text")
YELLOW = (255, 255, 0)  # what the LEDMatrix-style test plugin draws its text in


DEVICE_TOPIC = f"{PREFIX}/device/{DEVICE_ID}/config"


def entities(retained: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Every entity announced for our device, by key, checked against HA's rules."""
    return ha_rules.entities(retained, PREFIX, DEVICE_ID)


def plugin_keys(plugin_id: str) -> set[str]:
    return {f"plugin_{plugin_id}_{s}" for s in ("update", "enabled", "uninstall")}


def plugin_state(app: Appliance, plugin_id: str) -> dict[str, Any]:
    return dict(json.loads(app.retained(f"{ROOT}/state/plugins/{plugin_id}")[
        f"{ROOT}/state/plugins/{plugin_id}"
    ]))  # fmt: skip


def config_plugins(path: Path) -> dict[str, Any]:
    return dict(yamlio.read(path)["plugins"])


def test_device_and_entities_appear_on_home_assistant_birth(appliance: Appliance) -> None:
    """HA (re)starts and announces itself: every entity's config comes (again), well formed."""
    ha = appliance.ha
    ha.clear()
    ha.publish(f"{PREFIX}/status", "online")
    # The republish after the birth message (after a short random delay) is live, not replayed.
    ha.wait_for(lambda t, p, r: t == DEVICE_TOPIC and not r, timeout=20)
    retained = appliance.retained(f"{PREFIX}/#")
    ents = entities(retained)
    expected = set().union(*(plugin_keys(pid) for pid in BUILTINS)) | {
        "reconcile", "refresh_store", "next", "show", "panel", "message", "frame",
        "installed_count", "last_reconcile", "operation", "last_error", "store_problem",
    }  # fmt: skip
    assert expected <= set(ents), sorted(expected - set(ents))
    assert not [t for t in retained if t != DEVICE_TOPIC and retained[t]], "one layout only"
    unique_ids = [c["unique_id"] for c in ents.values()]
    assert len(unique_ids) == len(set(unique_ids))
    device_config = json.loads(retained[DEVICE_TOPIC])
    device = device_config["dev"]
    assert device["identifiers"] == [f"ledmatrix_{DEVICE_ID}"]
    assert device["name"] == "E2E Panel"
    assert device_config["o"]["name"] == "ledmatrix-mqtt"
    assert device_config["availability"] == [{"topic": f"{ROOT}/availability"}]
    for key, body in ents.items():
        assert body["unique_id"] == f"ledmatrix_{DEVICE_ID}_{key}", key
    assert appliance.retained(f"{ROOT}/availability")[f"{ROOT}/availability"] == b"online"
    assert set(BUILTINS) <= set(ents["show"]["options"])
    assert ents["frame"]["image_topic"] == f"{ROOT}/display/frame"
    update = ents["plugin_clock_update"]
    assert update["state_topic"] == f"{ROOT}/state/plugins/clock"
    # The states the entities point at are retained and hold what their templates read.
    state = appliance.retained(f"{ROOT}/state/#")
    assert json.loads(state[f"{ROOT}/state/plugins"])["count"] == len(BUILTINS)
    clock = json.loads(state[f"{ROOT}/state/plugins/clock"])
    assert clock["installed_version"] == "1.0.0" and clock["in_progress"] is False
    seen = ha_rules.update_state_seen_by_ha(update, state[f"{ROOT}/state/plugins/clock"])
    ha_rules.check_update_state(seen)
    assert (seen["installed_version"], seen["in_progress"]) == ("1.0.0", False)
    display = json.loads(state[f"{ROOT}/state/display"])
    assert display["power"] == "ON" and display["backend"] == "headless"
    assert json.loads(state[f"{ROOT}/state/reconcile"])["result"] in ("clean", "ok")


def test_install_show_update_uninstall_through_home_assistant(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    app, ha = appliance, appliance.ha
    shelf.publish(PLUGIN, "1.0.0", text="V1")

    # -- install from the store by id -----------------------------------------------------
    resp = app.command("install", {"plugin_id": PLUGIN})
    assert resp["status"] == "ok", resp
    assert (resp["data"]["action"], resp["data"]["version"]) == ("installed", "1.0.0")
    ops = [json.loads(p) for p in ha.on(f"{ROOT}/state/operation")]
    ours = [o for o in ops if o["operation"] == "install" and o["plugin_id"] == PLUGIN]
    stages = [o["stage"] for o in ours]
    assert {"downloading", "extracting", "activating", "done"} <= set(stages), stages
    assert (ours[-1]["status"], ours[-1]["percent"]) == ("done", 100)
    percents = [o["percent"] for o in ours]
    assert percents == sorted(percents), "progress never goes backwards"

    state = app.retained()
    plugins = json.loads(state[f"{ROOT}/state/plugins"])
    assert PLUGIN in [p["id"] for p in plugins["plugins"]]
    assert plugins["count"] == len(BUILTINS) + 1
    mine = json.loads(state[f"{ROOT}/state/plugins/{PLUGIN}"])
    assert (mine["version"], mine["installed_version"], mine["enabled"]) == ("1.0.0", "1.0.0", True)
    assert mine["update_available"] is False
    ents = entities(state)
    update_cfg = ents[f"plugin_{PLUGIN}_update"]
    assert update_cfg["state_topic"] == f"{ROOT}/state/plugins/{PLUGIN}"
    switch_cfg = ents[f"plugin_{PLUGIN}_enabled"]
    assert PLUGIN in ents["show"]["options"]
    op = json.loads(state[f"{ROOT}/state/operation"])
    assert (op["operation"], op["plugin_id"], op["status"]) == ("install", PLUGIN, "done")
    assert (app.state_dir / "plugins" / PLUGIN / "manifest.json").is_file()
    assert config_plugins(app.config_path)[PLUGIN]["enabled"] is True

    # -- it joins the rotation (1 s per plugin) and the panel shows its drawing ------------
    wait_json(ha, f"{ROOT}/state/display", lambda d: d["current_plugin"] == PLUGIN, 30)
    frame_topic = f"{ROOT}/display/frame"
    ha.wait_for(lambda t, p, r: t == frame_topic and YELLOW in colours(p), timeout=20)

    # -- pin it with the select entity (a bare option string, as HA sends it) ---------------
    select_cfg = ents["show"]
    resp = app.ha_publish(select_cfg["command_topic"], PLUGIN)
    assert resp["status"] == "ok" and resp["data"]["current_plugin"] == PLUGIN, resp
    display = json.loads(app.retained(f"{ROOT}/state/display")[f"{ROOT}/state/display"])
    assert display["current_plugin"] == PLUGIN and display["pinned_until"] is not None
    # Frames are published only when they change, so the latest one must be the plugin's.
    assert wait_until(lambda: YELLOW in colours(ha.on(frame_topic)[-1]), 10), "the plugin's frame"
    frame = app.retained(frame_topic)[frame_topic]
    image = decode_png(frame)
    assert image.size == PANEL_SIZE
    assert not is_blank(image) and YELLOW in colours(frame)

    # -- a new version is published; HA's "Refresh store" button finds it ------------------
    shelf.publish(PLUGIN, "1.1.0", text="V2")
    refresh = ents["refresh_store"]
    resp = app.ha_publish(refresh["command_topic"], refresh["payload_press"])
    assert resp["status"] == "ok", resp
    offered = wait_json(
        ha, f"{ROOT}/state/plugins/{PLUGIN}", lambda d: d["latest_version"] == "1.1.0", 10
    )
    assert offered["update_available"] is True and offered["installed_version"] == "1.0.0"

    # -- HA's update entity "Install" ------------------------------------------------------
    resp = app.ha_publish(update_cfg["command_topic"], update_cfg["payload_install"])
    assert resp["status"] == "ok", resp
    assert (resp["data"]["version"], resp["data"]["previous_version"]) == ("1.1.0", "1.0.0")
    payloads = [p for p in ha.on(f"{ROOT}/state/plugins/{PLUGIN}") if p]
    seen = [ha_rules.update_state_seen_by_ha(update_cfg, p) for p in payloads]
    for record in seen:  # every state message is one HA's update entity accepts
        ha_rules.check_update_state(record)
    assert any(r["in_progress"] and r["update_percentage"] is not None for r in seen)
    mine = plugin_state(app, PLUGIN)
    assert (mine["installed_version"], mine["latest_version"]) == ("1.1.0", "1.1.0")
    assert mine["update_available"] is False and mine["in_progress"] is False
    on_disk = json.loads((app.state_dir / "plugins" / PLUGIN / "manifest.json").read_text())
    assert on_disk["version"] == "1.1.0"

    # -- uninstall ---------------------------------------------------------------------------
    resp = app.command("uninstall", {"plugin_id": PLUGIN})
    assert resp["status"] == "ok", resp
    assert resp["data"]["removed_files"] is True and resp["data"]["removed_config"] is True
    _assert_gone(app, switch_cfg)

    # -- HA's "Reconcile" button does not bring it back ------------------------------------
    rec = ents["reconcile"]
    resp = app.ha_publish(rec["command_topic"], rec["payload_press"])
    assert resp["status"] == "ok", resp
    assert PLUGIN not in {i["plugin_id"] for i in resp["data"]["fixed"]}
    _assert_gone(app, switch_cfg)


def _assert_gone(app: Appliance, switch_cfg: dict[str, Any]) -> None:
    state = app.retained()
    assert f"{ROOT}/state/plugins/{PLUGIN}" not in state
    ents = entities(state)
    assert not plugin_keys(PLUGIN) & set(ents)
    # HA deletes an entity on a component with only its platform, and that comes
    # before the state is emptied (else HA renders the entity's template on nothing).
    order = [
        (t, p)
        for t, p, _ in app.ha.messages
        if t in (DEVICE_TOPIC, f"{ROOT}/state/plugins/{PLUGIN}")
    ]
    stub = {"platform": "update"}
    removal = next(
        i
        for i, (t, p) in enumerate(order)
        if t == DEVICE_TOPIC and json.loads(p)["cmps"].get(f"plugin_{PLUGIN}_update") == stub
    )
    assert order.index((f"{ROOT}/state/plugins/{PLUGIN}", b"")) > removal
    plugins = json.loads(state[f"{ROOT}/state/plugins"])
    assert PLUGIN not in [p["id"] for p in plugins["plugins"]]
    assert plugins["count"] == len(BUILTINS)
    assert PLUGIN not in ents["show"]["options"]
    assert not (app.state_dir / "plugins" / PLUGIN).exists()
    text = app.config_path.read_text()
    assert PLUGIN not in config_plugins(app.config_path)
    assert text.startswith(CONFIG_COMMENT), "the user's comment survived the edits"
    # The service owns only `plugins:`; every other line stays byte for byte (long
    # values such as the registry URL were once re-wrapped at 80 columns).
    assert text.split("\nplugins:")[0] == app.original_config.split("\nplugins:")[0]
    store = json.loads(state[f"{ROOT}/state/store"])
    assert {"id": PLUGIN, "installed": False} in [
        {"id": e["id"], "installed": e["installed"]} for e in store["entries"]
    ]
    assert app.service.display is not None and PLUGIN not in app.service.display.rotation()
    # The switch's command topic now answers not_installed instead of resurrecting it.
    resp = app.ha_publish(switch_cfg["command_topic"], switch_cfg["payload_on"])
    assert resp["status"] == "error" and resp["error"]["code"] == "not_installed"


def test_switch_light_text_and_next_entities(appliance: Appliance) -> None:
    app, ha = appliance, appliance.ha
    ents = entities(app.retained(f"{PREFIX}/#"))
    display_topic = f"{ROOT}/state/display"

    # -- the enable switch of a built-in ---------------------------------------------------
    switch = ents["plugin_status_enabled"]
    resp = app.ha_publish(switch["command_topic"], switch["payload_off"])
    assert resp["status"] == "ok" and resp["data"]["enabled"] is False, resp
    assert plugin_state(app, "status")["enabled"] is False
    assert config_plugins(app.config_path)["status"]["enabled"] is False
    assert app.service.display is not None
    assert wait_until(lambda: "status" not in app.service.display.rotation(), 10), "status unloaded"
    resp = app.ha_publish(switch["command_topic"], switch["payload_on"])
    assert resp["status"] == "ok" and resp["data"]["enabled"] is True, resp
    assert plugin_state(app, "status")["enabled"] is True
    assert config_plugins(app.config_path)["status"]["enabled"] is True
    assert wait_until(lambda: "status" in app.service.display.rotation(), 10), "status loaded"

    # -- the light: brightness (scale 100) then off and on ---------------------------------
    light = ents["panel"]
    assert light["brightness_scale"] == 100
    resp = app.ha_publish(light["brightness_command_topic"], "40")
    assert resp["status"] == "ok" and resp["data"]["brightness"] == 40, resp
    resp = app.ha_publish(light["command_topic"], light["payload_off"])
    assert resp["status"] == "ok" and resp["data"]["power"] == "OFF", resp
    display = json.loads(app.retained(display_topic)[display_topic])
    assert (display["power"], display["brightness"]) == ("OFF", 40)
    frame_topic = f"{ROOT}/display/frame"
    assert wait_until(lambda: is_blank(decode_png(ha.on(frame_topic)[-1])), 10), "a dark panel"
    resp = app.ha_publish(light["command_topic"], light["payload_on"])
    assert resp["status"] == "ok" and resp["data"]["power"] == "ON", resp

    # -- the text entity sets the built-in text plugin's message ---------------------------
    text = ents["message"]
    assert text["command_template"] == "{{ {'text': value} | tojson }}"
    for typed in ("Hello from HA", "true", "[1, 2]", "null", "42", '{"a": 1}'):
        resp = app.ha_publish(text["command_topic"], json.dumps({"text": typed}))
        assert resp["status"] == "ok" and resp["data"]["text"] == typed, resp
    display = json.loads(app.retained(display_topic)[display_topic])
    assert display["text"] == '{"a": 1}' and display["power"] == "ON"
    resp = app.ha_publish(text["command_topic"], json.dumps({"text": ""}))  # cleared in HA
    assert resp["status"] == "ok" and resp["data"]["text"] == "", resp

    # -- the "next" button skips (and drops a pin) -----------------------------------------
    select = ents["show"]
    assert app.ha_publish(select["command_topic"], "clock")["data"]["current_plugin"] == "clock"
    button = ents["next"]
    resp = app.ha_publish(button["command_topic"], button["payload_press"])
    assert resp["status"] == "ok", resp
    assert resp["data"]["current_plugin"] != "clock" and resp["data"]["pinned_until"] is None
    wait_json(ha, display_topic, lambda d: d["current_plugin"] == resp["data"]["current_plugin"])
