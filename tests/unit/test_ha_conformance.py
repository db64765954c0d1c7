"""Every discovery config and state message against Home Assistant's rules (ha_rules)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jinja2
import pytest

from ledmatrix_mqtt.api import DisplayState, ReconcileReport
from ledmatrix_mqtt.core.models import (
    GitInfo,
    InstalledPlugin,
    Manifest,
    PluginSource,
)
from ledmatrix_mqtt.mqtt import discovery, ha_layout, state
from ledmatrix_mqtt.mqtt.codec import decode_request
from ledmatrix_mqtt.mqtt.command_args import PluginArgs, TextArgs
from ledmatrix_mqtt.mqtt.ha_layout import Ledger
from ledmatrix_mqtt.mqtt.state import OperationState
from tests.support import ha_rules
from tests.support.ha_rules import Violation
from tests.unit.test_mqtt_builders import INFO, T


def plugin(**kw: object) -> InstalledPlugin:
    base: dict[str, object] = dict(
        id="clock-simple", name="Simple Clock", version="1.0.0", path="/p", enabled=True,
        source=PluginSource.REGISTRY, latest_version="1.2.0", update_available=True,
    )  # fmt: skip
    base.update(kw)
    return InstalledPlugin(**base)  # type: ignore[arg-type]


def manifest(raw: dict[str, object]) -> Manifest:
    return Manifest("clock-simple", "Simple Clock", "1.0.0", "Clock", raw=raw)  # type: ignore[arg-type]


PLUGINS = [
    plugin(),
    plugin(id="b.c", name="", version="2", latest_version=""),
    plugin(id="from-git", git=GitInfo("abc", remote_url="https://github.com/o/r.git")),
]


def retained(mode: str) -> dict[str, bytes]:
    comps = discovery.device_components(T, INFO, PLUGINS, ["clock-simple"], ["weather"])
    msgs, _ = ha_layout.plan(T, INFO, mode, comps, Ledger(mode, "homeassistant", "panel1"))
    return {m.topic: m.payload for m in msgs}


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_every_discovery_config_passes_home_assistants_rules(mode: str) -> None:
    found = ha_rules.entities(retained(mode), "homeassistant", "panel1")
    assert len(found) == 24 + 3 * len(PLUGINS)
    assert {c["platform"] for c in found.values()} == {
        "button", "sensor", "binary_sensor", "light", "text", "image", "select", "update", "switch",
        "notify", "number",
    }  # fmt: skip


def test_the_whole_plugin_state_is_what_ha_dropped_as_update_state() -> None:
    """Before: the update entity read ``state/plugins/<id>`` whole and HA dropped every message."""
    record = state.plugin_state(plugin(), None, OperationState())
    with pytest.raises(Violation, match="extra keys"):
        ha_rules.check_update_state(record)
    with pytest.raises(Violation, match="not a URL"):
        ha_rules.check_update_state({"installed_version": "1", "release_url": ""})


@pytest.mark.parametrize("p", PLUGINS, ids=lambda p: p.id)
@pytest.mark.parametrize("running", [False, True])
def test_update_entity_state_passes_home_assistants_update_schema(
    p: InstalledPlugin, running: bool
) -> None:
    op = OperationState()
    if running:
        op = OperationState("install", p.id, "running", stage="downloading", percent=40)
    msg = state.plugin_message(T, p, None, op)
    config = next(c.body for c in discovery.plugin_components(T, INFO, p) if c.platform == "update")
    seen = ha_rules.update_state_seen_by_ha(config, msg.payload)
    ha_rules.check_update_state(seen)
    assert seen["in_progress"] is running
    assert seen["update_percentage"] == (40 if running else None)
    assert seen["installed_version"] == p.version


def test_state_retained_by_an_older_version_is_ignored_by_the_update_entity() -> None:
    """After an upgrade HA may read the old retained plugin state before the new one."""
    config = next(
        c.body for c in discovery.plugin_components(T, INFO, plugin()) if c.key.endswith("_update")
    )
    assert "value_json.update_entity is defined" in config["value_template"]
    old = json.dumps({"id": "clock-simple", "enabled": True, "installed_version": "1.0.0"})
    assert ha_rules.update_state_seen_by_ha(config, old.encode()) == {}


def test_release_url_only_when_it_is_a_web_url() -> None:
    assert "release_url" not in state.update_entity_state(plugin(), OperationState())
    git = plugin(git=GitInfo("abc", remote_url="https://github.com/o/r.git"))
    assert (
        state.update_entity_state(git, OperationState())["release_url"] == "https://github.com/o/r"
    )
    for bad in ("git@github.com:o/r.git", "https://", "https://[x", "see github"):
        odd = plugin(git=GitInfo("abc", remote_url=bad), manifest=manifest({"homepage": bad}))
        assert "release_url" not in state.update_entity_state(odd, OperationState()), bad
    page = plugin(manifest=manifest({"homepage": "https://example.org/clock"}))
    assert state.update_entity_state(page, OperationState())["release_url"] == (
        "https://example.org/clock"
    )


def test_a_template_without_a_guard_is_what_ha_logs_on_removal() -> None:
    with pytest.raises(Violation, match="emptied"):
        ha_rules.check_templates("x", {"value_template": "{{ value_json.enabled }}"})


def test_state_messages_hold_what_the_templates_read() -> None:
    display = state.display_message(T, DisplayState(True, 40, "clock", "clock", 1.0), "hi").json()
    assert display["power"] in ("ON", "OFF") and isinstance(display["brightness"], int)
    assert len(display["text"]) <= 255
    assert state.reconcile_message(T, ReconcileReport(dry_run=False)).json()["result"]
    op = state.operation_message(T, OperationState()).json()
    assert op["summary"] == "idle" and op["last_error"] is None
    store = state.store_message(T, None).json()
    assert (store["fetched_at"], store["stale"], store["selected"]) == (None, True, "")
    listing = state.plugins_messages(T, PLUGINS, [], OperationState())[0].json()
    assert listing["count"] == len(PLUGINS)


def test_device_config_removal_stub_is_platform_only() -> None:
    comps = discovery.device_components(T, INFO, [], ["clock"])
    msg = ha_layout.device_config(T, INFO, comps, {"plugin_x_update": "update"})
    assert msg.topic == "homeassistant/device/panel1/config" and msg.retain
    body = json.loads(msg.payload)
    assert body["cmps"]["plugin_x_update"] == {"platform": "update"}
    assert body["availability"] == [{"topic": "ledmatrix/panel1/availability"}]
    assert body["o"] == {
        "name": "ledmatrix-mqtt", "sw_version": "0.3.0", "support_url": discovery.ORIGIN_URL,
    }  # fmt: skip
    assert set(ha_rules.components_of_device(body)) == {c.key for c in comps}


def _command(body: Mapping[str, Any], value: object) -> str:
    """The payload HA publishes for ``value``: the command template rendered, if any."""
    template = body.get("command_template")
    if template is None:
        return str(value)
    env = jinja2.Environment(autoescape=False)
    env.filters["tojson"] = json.dumps
    return env.from_string(template).render(value=value)


def ha_commands(comp: discovery.Component) -> list[tuple[str, str]]:
    """(command topic, payload) pairs HA publishes for ``comp`` (templates rendered)."""
    b = comp.body
    if comp.platform == "button":
        return [(b["command_topic"], b["payload_press"])]
    if comp.platform == "update":
        return [(b["command_topic"], b["payload_install"])]
    if comp.platform in ("switch", "light"):
        out = [(b["command_topic"], b["payload_on"]), (b["command_topic"], b["payload_off"])]
        if "brightness_command_topic" in b:
            out += [(b["brightness_command_topic"], v) for v in ("1", "40", "100")]
        return out
    if comp.platform == "select":
        return [(b["command_topic"], _command(b, option)) for option in b["options"]]
    if comp.platform == "text" and b["command_topic"].endswith("/cmd/schedule"):
        typed: tuple[object, ...] = ("07:30", "23:59", "0:05")
    elif comp.platform == "notify":  # an empty message gets an invalid_payload answer
        typed = ("Dinner is ready", "true", "null", "[1, 2]", "42", '{"a": 1}', "x" * 500)
    elif comp.platform == "text":
        typed = ("", "Dinner is ready", "true", "null", "[1, 2]", "42", '{"a": 1}', "x" * 255)
    elif comp.platform == "number":
        typed = (0, 20.0, 100)
    else:
        return []
    return [(b["command_topic"], _command(b, v)) for v in typed]


def test_every_command_home_assistant_sends_is_accepted() -> None:
    """Each payload an entity publishes (command templates rendered with Jinja, HA's engine)
    decodes to a request of the service's command API."""
    comps = discovery.device_components(T, INFO, PLUGINS, ["clock-simple", "b.c"], ["weather"])
    sent = [pair for comp in comps for pair in ha_commands(comp)]
    assert len(sent) > 30
    for topic, payload in sent:
        command = T.command_of(topic)
        assert command is not None, topic
        request = decode_request(command, payload.encode())
        assert request.command == command
    text = decode_request("text", json.dumps({"text": "[1, 2]"}).encode())
    assert text.args == TextArgs("[1, 2]")
    assert decode_request("store_select", b"weather").args == PluginArgs("weather")
