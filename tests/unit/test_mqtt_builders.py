"""Topics, retained state and discovery builders (pure; exact topic/payload/retain)."""

from __future__ import annotations

import json
from typing import Any

from ledmatrix_mqtt.api import (
    DisplayState,
    OperationSnapshot,
    PluginRuntimeStatus,
    ReconcileItem,
    ReconcileReport,
)
from ledmatrix_mqtt.core.models import (
    DependencyReport,
    InstalledPlugin,
    InstallResult,
    PluginSource,
    UninstallResult,
)
from ledmatrix_mqtt.mqtt import discovery, state
from ledmatrix_mqtt.mqtt.discovery import DeviceInfo
from ledmatrix_mqtt.mqtt.messages import Message, encode_json
from ledmatrix_mqtt.mqtt.serialize import install_data, reconcile_data, uninstall_data
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
    assert record["update_entity"] == {
        "installed_version": "1.0.0",
        "latest_version": "1.2.0",
        "title": "Simple Clock",
        "in_progress": True,
        "update_percentage": 40,
    }
    assert op.summary == "update clock-simple: downloading 40%"


def test_removed_plugin_state_is_cleared() -> None:
    assert state.removed_plugin_messages(T, "x") == [Message(T.state_plugin("x"), b"", 1, True)]


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


def test_operation_state_carries_the_last_failure() -> None:
    failed = OperationState(
        operation="install", plugin_id="nope", status="failed", error_code="not_found",
        message="plugin 'nope' is not in the registry", finished_at=12.0,
    )  # fmt: skip
    later = OperationState(operation="list", status="done")
    data = state.operation_message(T, later, failed).json()
    assert data["status"] == "done"
    assert data["last_error"] == {
        "code": "not_found",
        "message": "plugin 'nope' is not in the registry",
        "operation": "install",
        "plugin_id": "nope",
        "finished_at": 12.0,
    }
    assert state.operation_message(T, later).json()["last_error"] is None


def test_store_state_carries_the_selection() -> None:
    data = state.store_message(T, None, "weather").json()
    assert data == {"fetched_at": None, "stale": True, "entries": [], "selected": "weather"}


def components(plugins: list[InstalledPlugin], store: list[str] | None = None) -> dict[str, Any]:
    return {
        c.key: {"platform": c.platform, **c.body}
        for c in discovery.device_components(T, INFO, plugins, ["clock-simple"], store or [])
    }


def test_every_entity_has_a_stable_unique_id() -> None:
    comps = components([CLOCK], ["weather"])
    assert len({c["unique_id"] for c in comps.values()}) == len(comps)
    for key, comp in comps.items():
        assert comp["unique_id"] == f"ledmatrix_panel1_{key}"


def test_plugin_entities_exact() -> None:
    comps = components([CLOCK])
    assert comps["plugin_clock-simple_update"] == {
        "platform": "update",
        "unique_id": "ledmatrix_panel1_plugin_clock-simple_update",
        "name": "Simple Clock",
        "state_topic": "ledmatrix/panel1/state/plugins/clock-simple",
        "value_template": discovery.UPDATE_TEMPLATE,
        "command_topic": "ledmatrix/panel1/cmd/update",
        "payload_install": '{"plugin_id":"clock-simple"}',
        "entity_category": "config",
        "qos": 1,
    }
    switch = comps["plugin_clock-simple_enabled"]
    assert (switch["payload_on"], switch["payload_off"]) == (
        '{"plugin_id":"clock-simple"}',
        '{"enabled":false,"plugin_id":"clock-simple"}',
    )
    assert switch["value_template"] == (
        "{{ ('ON' if value_json.enabled else 'OFF') if value_json is defined else 'None' }}"
    )
    assert comps["plugin_clock-simple_uninstall"] == {
        "platform": "button",
        "unique_id": "ledmatrix_panel1_plugin_clock-simple_uninstall",
        "name": "Uninstall Simple Clock",
        "command_topic": "ledmatrix/panel1/cmd/uninstall",
        "payload_press": '{"plugin_id":"clock-simple"}',
        "entity_category": "config",
        "icon": "mdi:delete",
        "qos": 1,
    }


def test_panel_entities_exact() -> None:
    comps = components([CLOCK])
    light = comps["panel"]
    assert light["brightness_scale"] == 100 and light["on_command_type"] == "last"
    assert (light["command_topic"], light["brightness_command_topic"]) == (
        T.command("power"),
        T.command("brightness"),
    )
    assert light["name"] is None  # the device's own name
    text = comps["message"]
    assert text["command_template"] == "{{ {'text': value} | tojson }}"
    assert (text["min"], text["max"], text["mode"]) == (0, 255, "text")
    image = comps["frame"]
    assert (image["image_topic"], image["content_type"]) == (T.frame, "image/png")
    select = comps["show"]
    assert select["options"] == ["clock-simple"] and select["command_topic"] == T.command("show")
    assert select["value_template"] == (
        '{{ (value_json.current_plugin if value_json.current_plugin in ["clock-simple"] '
        "else 'None') if value_json is defined else 'None' }}"
    )


def test_diagnostics_and_store_entities() -> None:
    comps = components([], ["weather", "stocks"])
    assert {k for k, c in comps.items() if c.get("entity_category") == "diagnostic"} == {
        "installed_count", "last_reconcile", "operation", "last_error", "store_problem",
    }  # fmt: skip
    assert comps["operation"]["enabled_by_default"] is False
    problem = comps["store_problem"]
    assert (problem["platform"], problem["device_class"]) == ("binary_sensor", "problem")
    assert problem["state_topic"] == T.state_store
    assert comps["last_error"]["json_attributes_topic"] == T.state_operation
    pick = comps["store_plugin"]
    assert pick["options"] == [discovery.NO_SELECTION, "weather", "stocks"]
    assert pick["command_topic"] == "ledmatrix/panel1/cmd/store_select"
    assert comps["store_install"]["command_topic"] == "ledmatrix/panel1/cmd/store_install"
    assert comps["refresh_store"]["payload_press"] == '{"refresh":true}'
    assert "entity_category" not in comps["next"]


def test_selects_without_options_are_left_out() -> None:
    keys = {c.key for c in discovery.device_components(T, INFO, [], [], [])}
    assert not keys & {"show", "store_plugin", "store_install"}


def test_command_results_are_encoded_field_for_field() -> None:
    result = InstallResult("clock-simple", "updated", "1.2.0", "1.0.0",
                           dependencies=DependencyReport("installed", "ok"))  # fmt: skip
    assert json.loads(encode_json(install_data(result))) == {
        "plugin_id": "clock-simple",
        "action": "updated",
        "version": "1.2.0",
        "previous_version": "1.0.0",
        "source": "registry",
        "dependencies": {"status": "installed", "detail": "ok"},
        "message": "",
    }
    gone = UninstallResult("clock-simple", removed_files=True, removed_config=False)
    assert json.loads(encode_json(uninstall_data(gone))) == {
        "plugin_id": "clock-simple", "removed_files": True, "removed_config": False, "message": ""
    }  # fmt: skip
    item = ReconcileItem("weather", "missing_on_disk", "install", error_code="NOT_FOUND")
    data = reconcile_data(ReconcileReport(dry_run=False, needs_attention=(item,)))
    assert data["needs_attention"] == [{"plugin_id": "weather", "kind": "missing_on_disk",
        "action": "install", "detail": "", "error_code": "NOT_FOUND"}]  # fmt: skip
