"""Topics, retained state and discovery builders (pure; exact topic/payload/retain)."""

from __future__ import annotations

import json

from ledmatrix_mqtt.api import (
    DisplayState,
    OperationSnapshot,
    PluginRuntimeStatus,
    ReconcileReport,
)
from ledmatrix_mqtt.core.models import InstalledPlugin, PluginSource
from ledmatrix_mqtt.mqtt import discovery, state
from ledmatrix_mqtt.mqtt.discovery import DeviceInfo
from ledmatrix_mqtt.mqtt.messages import Message
from ledmatrix_mqtt.mqtt.state import OperationState
from ledmatrix_mqtt.mqtt.topics import Topics, object_id

T = Topics("ledmatrix", "panel1", "homeassistant")
INFO = DeviceInfo("panel1", "Kitchen Panel", "0.3.0")
CLOCK = InstalledPlugin(
    id="clock-simple",
    name="Simple Clock",
    version="1.0.0",
    path="/p",
    enabled=True,
    source=PluginSource.REGISTRY,
    latest_version="1.2.0",
    update_available=True,
)


def test_topic_contract() -> None:
    assert T.root == "ledmatrix/panel1"
    assert T.availability == "ledmatrix/panel1/availability"
    assert T.command("install") == "ledmatrix/panel1/cmd/install"
    assert T.response("list") == "ledmatrix/panel1/response/list"
    assert T.state_plugin("a.b") == "ledmatrix/panel1/state/plugins/a.b"
    assert T.frame == "ledmatrix/panel1/display/frame"
    assert T.discovery("update", "x") == "homeassistant/update/panel1/x/config"
    assert T.command_of("ledmatrix/panel1/cmd/list") == "list"
    assert T.command_of("ledmatrix/panel1/cmd/a/b") == "a/b"  # answered unknown_command
    assert T.command_of("ledmatrix/other/cmd/list") is None
    assert T.response("LIST") == "ledmatrix/panel1/response/LIST"
    assert T.response("list/extra") == "ledmatrix/panel1/response/list/extra"
    assert T.response("a+b") == T.response("x" * 65) == "ledmatrix/panel1/response/unknown"


def test_reply_topics_only_in_our_reply_namespace() -> None:
    assert T.reply_allowed("ledmatrix/panel1/response/client-1")
    assert T.reply_allowed("ledmatrix/panel1/response/cli/abc")
    for refused in (
        "ledmatrix/panel1/state/plugins",
        "ledmatrix/panel2/response/list",
        "ledmatrix/panel2/availability",
        "homeassistant/light/x/config",
        "clients/me/reply",
        "$SYS/x",
        "ledmatrix/panel1/response/",
        "ledmatrix/panel1/response/a//b",
        "ledmatrix/panel1/response/+",
        "",
    ):
        assert not T.reply_allowed(refused), refused


def test_object_id_is_ha_safe_and_injective() -> None:
    assert object_id("clock-simple") == "clock-simple"
    assert object_id("a.b") != object_id("a_b")
    assert all(c.isalnum() or c in "_-" for c in object_id("a.b_c"))


def test_availability_messages() -> None:
    assert state.availability(T, True) == Message(T.availability, b"online", 1, True)
    assert state.availability(T, False) == Message(T.availability, b"offline", 1, True)


def test_plugins_messages_list_and_per_plugin() -> None:
    runtime = [PluginRuntimeStatus("clock-simple", loaded=True, healthy=True)]
    msgs = state.plugins_messages(T, [CLOCK], runtime, OperationState())
    assert [m.topic for m in msgs] == [T.state_plugins, T.state_plugin("clock-simple")]
    assert all(m.retain and m.qos == 1 for m in msgs)
    listing = msgs[0].json()
    assert listing["count"] == 1
    record = msgs[1].json()
    assert record == listing["plugins"][0]
    assert (record["version"], record["latest_version"], record["update_available"]) == (
        "1.0.0",
        "1.2.0",
        True,
    )
    assert (record["enabled"], record["loaded"], record["healthy"], record["error"]) == (
        True,
        True,
        True,
        "",
    )
    assert record["installed_version"] == "1.0.0" and record["in_progress"] is False


def test_plugin_state_shows_update_progress() -> None:
    snap = OperationSnapshot(1, "update", "clock-simple", "running", "downloading", 40)
    op = OperationState.of(snap)
    record = state.plugin_state(CLOCK, None, op)
    assert (record["in_progress"], record["update_percentage"]) == (True, 40)
    assert op.summary == "update clock-simple: downloading 40%"


def test_removed_plugin_is_cleared() -> None:
    assert state.removed_plugin_messages(T, "x") == [Message(T.state_plugin("x"), b"", 1, True)]
    cleared = discovery.removed_plugin_configs(T, "x")
    assert [m.topic for m in cleared] == [
        "homeassistant/update/panel1/plugin_x_update/config",
        "homeassistant/switch/panel1/plugin_x_enabled/config",
    ]
    assert all(m.is_clear for m in cleared)


def test_display_and_reconcile_state() -> None:
    ds = DisplayState(
        power=False, brightness=30, current_plugin="clock-simple", current_mode="clock", since=5.0
    )
    msg = state.display_message(T, ds, "hi")
    assert msg.topic == T.state_display and msg.retain
    assert msg.json()["power"] == "OFF" and msg.json()["text"] == "hi"
    rec = state.reconcile_message(T, ReconcileReport(dry_run=False)).json()
    assert rec["result"] == "clean" and rec["successful"] is True
    assert state.reconcile_message(T, None).json() == {"result": "unknown"}


def configs(plugins: list[InstalledPlugin]) -> dict[str, dict]:
    return {
        m.topic: json.loads(m.payload)
        for m in discovery.device_configs(T, INFO, plugins, ["clock-simple"])
        if m.payload
    }


def test_discovery_every_entity_has_identity_device_origin_availability() -> None:
    all_configs = configs([CLOCK])
    assert len({c["unique_id"] for c in all_configs.values()}) == len(all_configs)
    for cfg in all_configs.values():
        assert cfg["unique_id"].startswith("ledmatrix_panel1_")
        assert cfg["device"]["identifiers"] == ["ledmatrix_panel1"]
        assert cfg["device"]["name"] == "Kitchen Panel"
        assert cfg["origin"]["name"] == "ledmatrix-mqtt" and cfg["origin"]["sw_version"] == "0.3.0"
        assert cfg["availability"] == [{"topic": T.availability}]


def test_discovery_plugin_update_entity() -> None:
    upd = configs([CLOCK])["homeassistant/update/panel1/plugin_clock-simple_update/config"]
    assert upd["state_topic"] == T.state_plugin("clock-simple")
    assert upd["command_topic"] == T.command("update")
    assert json.loads(upd["payload_install"]) == {"plugin_id": "clock-simple"}
    record = state.plugin_state(CLOCK, None, OperationState())
    for key in (
        "installed_version",
        "latest_version",
        "in_progress",
        "update_percentage",
        "release_url",
        "title",
    ):
        assert key in record


def test_discovery_device_entities() -> None:
    c = configs([CLOCK])
    light = c["homeassistant/light/panel1/panel/config"]
    assert light["brightness_scale"] == 100
    assert light["brightness_command_topic"] == T.command("brightness")
    assert light["command_topic"] == T.command("power")
    text = c["homeassistant/text/panel1/message/config"]
    assert text["max"] == 255 and text["command_topic"] == T.command("text")
    image = c["homeassistant/image/panel1/frame/config"]
    assert image["image_topic"] == T.frame and image["content_type"] == "image/png"
    select = c["homeassistant/select/panel1/show/config"]
    assert select["options"] == ["clock-simple"] and select["command_topic"] == T.command("show")
    buttons = {k.split("/")[3]: v for k, v in c.items() if k.split("/")[1] == "button"}
    assert set(buttons) == {"reconcile", "refresh_store", "next"}
    assert json.loads(buttons["refresh_store"]["payload_press"]) == {"refresh": True}
    sensors = {k.split("/")[3] for k in c if k.split("/")[1] == "sensor"}
    assert sensors == {"installed_count", "last_reconcile", "operation"}
    switch = c["homeassistant/switch/panel1/plugin_clock-simple_enabled/config"]
    assert json.loads(switch["payload_off"]) == {"plugin_id": "clock-simple", "enabled": False}


def test_select_without_options_is_cleared() -> None:
    msgs = discovery.device_configs(T, INFO, [], [])
    select = [m for m in msgs if m.topic == "homeassistant/select/panel1/show/config"]
    assert select and select[0].is_clear
