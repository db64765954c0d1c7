"""The MQTT front end against a real mosquitto, with fake store/display ports."""

from __future__ import annotations

import json

import pytest

from ledmatrix_mqtt.api import PluginRuntimeStatus
from ledmatrix_mqtt.errors import Busy, DownloadFailed, StorageFailed
from tests.integration.frontend_env import ROOT, Service, retained
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def test_list_round_trip_returns_installed_plugins(service: Service) -> None:
    resp = service.call("list", {"transaction": "t-1"})
    assert resp["status"] == "ok"
    assert resp["transaction"] == "t-1"
    assert [p["id"] for p in resp["data"]["plugins"]] == ["clock-simple"]
    assert resp["data"]["plugins"][0]["update_available"] is True


def test_install_updates_retained_state_and_discovery(service: Service) -> None:
    resp = service.call("install", {"plugin_id": "weather"})
    assert resp["status"] == "ok", resp
    assert resp["data"]["version"] == "2.0.0"
    state = retained(service.broker)
    plugins = json.loads(state[f"{ROOT}/state/plugins"])
    assert plugins["count"] == 2
    weather = json.loads(state[f"{ROOT}/state/plugins/weather"])
    assert weather["installed_version"] == "2.0.0" and weather["in_progress"] is False
    op = json.loads(state[f"{ROOT}/state/operation"])
    assert (op["operation"], op["status"], op["percent"]) == ("install", "done", 100)
    assert "homeassistant/update/testpanel/plugin_weather_update/config" in state
    store = json.loads(state[f"{ROOT}/state/store"])
    weather_entry = next(e for e in store["entries"] if e["id"] == "weather")
    expected = {"name": "Weather", "latest_version": "2.0.0", "installed": True}
    assert expected.items() <= weather_entry.items()


def test_install_progress_is_published_on_operation_topic(service: Service) -> None:
    service.call("install", {"plugin_id": "weather"})
    op_topic = f"{ROOT}/state/operation"
    # the response and the final operation state travel on different topics: wait for "done"
    service.probe.wait_for(lambda t, p, r: t == op_topic and json.loads(p)["stage"] == "done")
    stages = [json.loads(p)["stage"] for p in service.probe.on(op_topic)]
    assert stages.index("queued") < stages.index("downloading") < stages.index("done")
    assert {"downloading", "extracting", "activating", "done"} <= set(stages)
    service.call("update", {"plugin_id": "clock-simple"})
    plugin_topic = f"{ROOT}/state/plugins/clock-simple"
    service.probe.wait_for(
        lambda t, p, r: t == plugin_topic and p and json.loads(p)["update_percentage"] == 90
    )
    assert wait_until(lambda: not json.loads(service.probe.on(plugin_topic)[-1])["in_progress"])
    records = [json.loads(p) for p in service.probe.on(plugin_topic)]
    assert {r["update_percentage"] for r in records if r["in_progress"]} >= {30, 60, 90}
    assert records[-1]["in_progress"] is False


def test_uninstall_clears_plugin_state_and_entities(service: Service) -> None:
    assert service.call("uninstall", {"plugin_id": "clock-simple"})["status"] == "ok"
    state = retained(service.broker)
    assert f"{ROOT}/state/plugins/clock-simple" not in state
    assert "homeassistant/update/testpanel/plugin_clock-simple_update/config" not in state
    assert "homeassistant/switch/testpanel/plugin_clock-simple_enabled/config" not in state
    assert json.loads(state[f"{ROOT}/state/plugins"])["count"] == 0
    # The clears were explicit empty retained publications (HA deletes the entity).
    assert b"" in service.probe.on(
        "homeassistant/update/testpanel/plugin_clock-simple_update/config"
    )


@pytest.mark.parametrize(
    ("command", "payload", "code"),
    [
        ("install", {"plugin_id": "no-such-plugin"}, "not_found"),
        ("install", {"plugin_id": "../etc"}, "invalid_plugin_id"),
        ("install", {"url": "https://example.com/x.zip"}, "forbidden"),
        ("uninstall", {"plugin_id": "weather"}, "not_installed"),
        ("update", {"plugin_id": "weather"}, "not_installed"),
        ("enable", {"plugin_id": "weather"}, "not_installed"),
        ("show", {"plugin_id": "weather"}, "not_installed"),
        ("brightness", {"value": 101}, "invalid_payload"),
        ("power", {"state": "maybe"}, "invalid_payload"),
        ("list", {"surprise": 1}, "invalid_payload"),
        ("text", {"text": "x" * 300}, "invalid_payload"),
    ],
)
def test_bad_requests_get_error_codes(
    service: Service, command: str, payload: dict, code: str
) -> None:
    before = dict(service.store.installed)
    resp = service.call(command, payload)
    assert resp["status"] == "error"
    assert resp["error"]["code"] == code
    assert service.store.installed == before


@pytest.mark.parametrize(
    ("op", "exc", "code"),
    [
        ("install", DownloadFailed("boom"), "download_failed"),
        ("install", Busy("locked"), "busy"),
        ("install", StorageFailed("disk full"), "storage_failed"),
        ("list", RuntimeError("bug in the store"), "internal_error"),
    ],
)
def test_store_errors_map_to_codes_and_bugs_to_internal_error(
    service: Service, op: str, exc: BaseException, code: str
) -> None:
    service.store.fail_next[op] = exc
    command = "list" if op == "list" else "install"
    if command == "list":  # no kept answer (e.g. its build failed): the store is read
        service.frontend._publisher.list_answer.invalidate()
    resp = service.call(command, {"plugin_id": "weather"} if command == "install" else {})
    assert resp["error"]["code"] == code
    assert service.call("list")["status"] == "ok"  # still serving


def test_raw_payloads_non_json_and_unknown_command(service: Service) -> None:
    probe = service.probe
    cases = [
        ("list", b"[1,2]", "invalid_payload"),
        ("list", b"null", "invalid_payload"),
        ("install", b"\xff\xfe", "invalid_payload"),
        ("install", b"{not json", "invalid_payload"),
        ("install", b"x" * (64 * 1024 + 1), "payload_too_large"),
        ("reboot", b"{}", "unknown_command"),
        ("list", b"", "invalid_payload"),
    ]
    for command, payload, code in cases:
        probe.clear()
        probe.publish(f"{ROOT}/cmd/{command}", payload)
        _, body, _ = probe.wait_for(lambda t, p, r, c=command: t == f"{ROOT}/response/{c}")
        resp = json.loads(body)
        assert (resp["status"], resp["error"]["code"]) == ("error", code), (command, payload[:20])


def test_bare_string_payloads_and_boolean_coercion(service: Service) -> None:
    probe = service.probe
    for command, payload in (
        ("power", b"off"),
        ("brightness", b"42"),
        ("show", b"clock-simple"),
        ("text", b"Hello"),
        ("power", b'"ON"'),
    ):
        probe.clear()
        probe.publish(f"{ROOT}/cmd/{command}", payload)
        _, body, _ = probe.wait_for(lambda t, p, r, c=command: t == f"{ROOT}/response/{c}")
        assert json.loads(body)["status"] == "ok", (command, body)
    state = service.display.state()
    assert (state.power, state.brightness, state.current_plugin) == (True, 42, "clock-simple")
    assert service.display.text() == "Hello"
    resp = service.call("reconcile", {"dry_run": "TRUE", "force": "0"})
    assert resp["data"]["dry_run"] is True


def test_display_commands_update_retained_display_state(service: Service) -> None:
    assert service.call("brightness", {"value": 10})["data"]["brightness"] == 10
    assert service.call("power", {"state": "OFF"})["data"]["power"] == "OFF"
    assert service.call("next")["status"] == "ok"
    assert service.call("text", {"text": "Hi there"})["status"] == "ok"
    disp = json.loads(retained(service.broker)[f"{ROOT}/state/display"])
    assert (disp["brightness"], disp["power"], disp["text"]) == (10, "OFF", "Hi there")


def test_enable_disable_and_ha_switch_payloads(service: Service) -> None:
    assert service.call("disable", {"plugin_id": "clock-simple"})["data"]["enabled"] is False
    state = retained(service.broker)
    assert json.loads(state[f"{ROOT}/state/plugins/clock-simple"])["enabled"] is False
    switch = json.loads(state["homeassistant/switch/testpanel/plugin_clock-simple_enabled/config"])
    service.probe.publish(switch["command_topic"], switch["payload_on"])
    service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/response/enable")
    assert service.store.installed["clock-simple"].enabled is True


def test_ha_update_entity_install_runs_the_plugin_update(service: Service) -> None:
    cfg = json.loads(
        retained(service.broker)["homeassistant/update/testpanel/plugin_clock-simple_update/config"]
    )
    service.probe.publish(cfg["command_topic"], cfg["payload_install"])
    _, body, _ = service.probe.wait_for(lambda t, p, r: t == f"{ROOT}/response/update")
    assert json.loads(body)["data"]["version"] == "1.2.0"
    plugin = json.loads(retained(service.broker)[cfg["state_topic"]])
    assert plugin["installed_version"] == plugin["latest_version"] == "1.2.0"


def test_search_and_reconcile_publish_results(service: Service) -> None:
    resp = service.call("search", {"query": "wea", "refresh": True})
    assert [e["id"] for e in resp["data"]["entries"]] == ["weather"]
    resp = service.call("reconcile", {"force": True})
    assert resp["data"]["fixed"][0]["plugin_id"] == "weather"
    rec = json.loads(retained(service.broker)[f"{ROOT}/state/reconcile"])
    assert rec["result"] == "ok" and rec["dry_run"] is False


def test_search_starts_enrichment_only_after_answering_and_a_failure_there_is_contained(
    service: Service,
) -> None:
    """The GitHub lookups of a browse started before its answer was built, and their
    threads competed with building it; they start once the answer is sent."""
    service.store.fail_next["enrich"] = RuntimeError("enrichment broke")
    resp = service.call("search", {"query": "wea"})
    assert resp["status"] == "ok" and [e["id"] for e in resp["data"]["entries"]] == ["weather"]
    assert wait_until(lambda: "enrich" in service.store.calls, 5)
    calls = service.store.calls
    assert calls.index("search") < calls.index("enrich")
    assert service.call("search", {"query": "wea"})["status"] == "ok", "the worker goes on"


def test_update_all(service: Service) -> None:
    resp = service.call("update", {"all": True})
    assert [r["plugin_id"] for r in resp["data"]["results"]] == ["clock-simple"]


def test_runtime_health_change_republishes_plugin_state(service: Service) -> None:
    """A plugin that turned unhealthy without any store change (its update() started
    failing) stayed "healthy" in the retained state until the next install."""
    topic = f"{ROOT}/state/plugins/clock-simple"
    assert json.loads(retained(service.broker)[topic])["healthy"] is True
    service.display.runtime_status = lambda: [  # type: ignore[method-assign]
        PluginRuntimeStatus("clock-simple", loaded=True, healthy=False, error="update failed")
    ]
    for listener in list(service.display._listeners):
        listener("plugins")
    _, payload, _ = service.probe.wait_for(
        lambda t, p, r: t == topic and p and json.loads(p)["healthy"] is False
    )
    assert json.loads(payload)["error"] == "update failed"
