"""Installing and managing plugins from Home Assistant's UI, over a real broker.

Only what the device config announces is used: the "Store plugin" select and
"Install store plugin" button, a plugin's "Uninstall" button, the "Plugin store"
problem sensor and the "Last error" sensor (their templates' inputs).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledmatrix_mqtt.mqtt.discovery import NO_SELECTION
from tests.e2e.conftest import DEVICE_ID, ROOT, Appliance, PluginShelf, wait_json
from tests.support import ha_rules
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PREFIX = "homeassistant"
PLUGIN = "weather-lite"


def entities(app: Appliance) -> dict[str, dict[str, Any]]:
    return ha_rules.entities(app.retained(f"{PREFIX}/#"), PREFIX, DEVICE_ID)


def store_state(app: Appliance) -> dict[str, Any]:
    return dict(json.loads(app.retained(f"{ROOT}/state/store")[f"{ROOT}/state/store"]))


def test_pick_a_store_plugin_install_it_and_uninstall_it_from_home_assistant(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    app = appliance
    shelf.publish(PLUGIN, "1.0.0", text="V1")
    shelf.publish("stocks", "2.0.0")
    refresh = entities(app)["refresh_store"]
    assert app.ha_publish(refresh["command_topic"], refresh["payload_press"])["status"] == "ok"

    # -- the store select offers what is not installed; the problem sensor is off ------
    assert wait_until(lambda: "store_plugin" in entities(app), 10)
    ents = entities(app)
    pick, install = ents["store_plugin"], ents["store_install"]
    assert pick["options"] == [NO_SELECTION, "stocks", PLUGIN]
    store = store_state(app)
    assert store["fetched_at"] is not None and store["stale"] is False  # problem: OFF
    assert store["selected"] == ""

    # -- HA sends the chosen option through the command template; the service remembers
    # it (retained), and the placeholder option clears it --------------------------------
    cleared = app.ha_publish(pick["command_topic"], "{}")
    assert cleared["status"] == "ok" and cleared["data"] == {"selected": ""}, cleared
    resp = app.ha_publish(pick["command_topic"], json.dumps({"plugin_id": PLUGIN}))
    assert resp["status"] == "ok" and resp["data"] == {"selected": PLUGIN}, resp
    assert wait_until(lambda: store_state(app)["selected"] == PLUGIN, 10)

    # -- Install installs the selection ------------------------------------------------
    resp = app.ha_publish(install["command_topic"], install["payload_press"])
    assert resp["status"] == "ok", resp
    assert (resp["data"]["plugin_id"], resp["data"]["action"]) == (PLUGIN, "installed")
    assert wait_until(lambda: f"plugin_{PLUGIN}_update" in entities(app), 10)
    ents = entities(app)
    assert ents["store_plugin"]["options"] == [NO_SELECTION, "stocks"]
    assert store_state(app)["selected"] == ""
    state_topic = f"{ROOT}/state/plugins/{PLUGIN}"
    seen = ha_rules.update_state_seen_by_ha(
        ents[f"plugin_{PLUGIN}_update"], app.retained(state_topic)[state_topic]
    )
    ha_rules.check_update_state(seen)
    assert seen["installed_version"] == "1.0.0"

    # -- its Uninstall button removes it and its entities ------------------------------
    button = ents[f"plugin_{PLUGIN}_uninstall"]
    resp = app.ha_publish(button["command_topic"], button["payload_press"])
    assert resp["status"] == "ok" and resp["data"]["plugin_id"] == PLUGIN, resp
    assert wait_until(lambda: f"plugin_{PLUGIN}_update" not in entities(app), 10)
    assert state_topic not in app.retained(f"{ROOT}/state/#")
    assert PLUGIN in entities(app)["store_plugin"]["options"]


def test_install_without_a_selection_and_a_failed_install_show_as_last_error(
    appliance: Appliance, shelf: PluginShelf
) -> None:
    app = appliance
    shelf.publish(PLUGIN, "1.0.0")
    op_topic = f"{ROOT}/state/operation"
    first = json.loads(app.retained(op_topic)[op_topic])
    assert first["last_error"] is None  # the sensor reads 'none'

    resp = app.ha_publish(f"{ROOT}/cmd/store_install", "{}")
    assert resp["status"] == "error" and resp["error"]["code"] == "invalid_payload", resp
    nothing = wait_json(app.ha, op_topic, lambda d: d["last_error"] is not None)
    assert nothing["last_error"]["operation"] == "store_install"
    resp = app.ha_publish(f"{ROOT}/cmd/store_select", "not-in-store")
    assert resp["status"] == "error" and resp["error"]["code"] == "not_found", resp

    resp = app.command("install", {"plugin_id": "no-such-plugin"})
    assert resp["status"] == "error" and resp["error"]["code"] == "not_found", resp
    failed = wait_json(
        app.ha, op_topic, lambda d: (d["last_error"] or {}).get("code") == "not_found"
    )
    assert failed["last_error"]["plugin_id"] == "no-such-plugin"
    assert failed["last_error"]["operation"] == "install"

    # a later success keeps the last error visible until the next failure
    resp = app.command("install", {"plugin_id": PLUGIN})
    assert resp["status"] == "ok", resp
    done = wait_json(app.ha, op_topic, lambda d: d["status"] == "done" and d["plugin_id"] == PLUGIN)
    assert done["last_error"]["plugin_id"] == "no-such-plugin"
    sensor = entities(app)["last_error"]
    assert sensor["json_attributes_topic"] == op_topic
