"""``list`` is served from a kept answer, and every change to the plugins shows at once.

A real mosquitto and the real front end over the fake store/display ports: the
kept answer must never show plugins as they were before an install, uninstall,
enable/disable, configure, a store change outside MQTT or a health event.
"""

from __future__ import annotations

from ledmatrix_mqtt.api import PluginRuntimeStatus
from tests.integration.frontend_env import Service


def _listed(service: Service) -> dict[str, dict]:
    resp = service.call("list")
    assert resp["status"] == "ok", resp
    return {p["id"]: p for p in resp["data"]["plugins"]}


def test_repeated_list_is_answered_without_reading_the_store(service: Service) -> None:
    _listed(service)  # kept by now (built when the state was published)
    reads = service.store.calls.count("list")
    for i in range(5):
        resp = service.call("list", {"transaction": f"kept-{i}"})
        assert resp["transaction"] == f"kept-{i}"
        assert [p["id"] for p in resp["data"]["plugins"]] == ["clock-simple"]
    assert service.store.calls.count("list") == reads


def test_list_after_install_and_uninstall_shows_the_change(service: Service) -> None:
    assert set(_listed(service)) == {"clock-simple"}
    assert service.call("install", {"plugin_id": "weather"})["status"] == "ok"
    assert set(_listed(service)) == {"clock-simple", "weather"}
    assert service.call("uninstall", {"plugin_id": "weather"})["status"] == "ok"
    assert set(_listed(service)) == {"clock-simple"}


def test_list_after_disable_and_enable_shows_the_flag(service: Service) -> None:
    assert _listed(service)["clock-simple"]["enabled"] is True
    assert service.call("disable", {"plugin_id": "clock-simple"})["status"] == "ok"
    assert _listed(service)["clock-simple"]["enabled"] is False
    assert service.call("enable", {"plugin_id": "clock-simple"})["status"] == "ok"
    assert _listed(service)["clock-simple"]["enabled"] is True


def test_list_right_after_a_store_change_outside_mqtt_shows_it(service: Service) -> None:
    _listed(service)
    service.store.add_installed("stocks", "3.0.0")
    service.frontend.plugins_changed()  # what the app calls after any store change
    assert set(_listed(service)) == {"clock-simple", "stocks"}


def test_list_right_after_a_plugin_turns_unhealthy_shows_it(service: Service) -> None:
    assert _listed(service)["clock-simple"]["healthy"] is True
    service.display.runtime_status = lambda: [  # type: ignore[method-assign]
        PluginRuntimeStatus("clock-simple", loaded=True, healthy=False, error="update failed")
    ]
    for listener in list(service.display._listeners):
        listener("plugins")  # the display's health event
    listed = _listed(service)["clock-simple"]
    assert listed["healthy"] is False
    assert listed["error"] == "update failed"
