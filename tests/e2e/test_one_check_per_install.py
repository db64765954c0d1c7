"""One install over MQTT checks the plugin id once and the URL policy once; a switch,
a settings change and a rotation order check each id once too.

The check happens where the input comes in (the MQTT command parser for the id,
the store's submit for a URL); the layers inside take the checked types
(``PluginId``, ``SourceUrl``) and do not repeat it. Counted on the real service
(real MQTT front end, real store, FakeGitHub), so a check added back in any
layer shows here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.core import ids
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.installer import Installer
from tests.e2e.conftest import Appliance, running_appliance, write_config
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import PluginShelf, plugin_files

pytestmark = pytest.mark.broker


@pytest.fixture
def app(tmp_path: Path, broker: MosquittoBroker, shelf: PluginShelf) -> Iterator[Appliance]:
    shelf.publish("weather", "1.0.0")
    monorepo = {f"plugins/clock-two/{k}": v for k, v in plugin_files("clock-two").items()}
    shelf.fake.add_repo("tests", "monorepo", monorepo)
    store = {**shelf.fake.store_config(), "allow_install_from_url": True}
    path = write_config(tmp_path / "etc", port=broker.port, store=store)
    with running_appliance(path, broker) as running:
        yield running


def _count_calls(monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> None:
    """Record every ``validate_plugin_id`` call in the package, however it was imported
    (the command path loads with the first command, so some modules import it later)."""
    original = ids.validate_plugin_id  # the module's own: monkeypatch restored it

    def counted(value: object) -> ids.PluginId:
        calls.append(value)
        return original(value)

    monkeypatch.setattr(ids, "validate_plugin_id", counted)  # modules imported from now on
    for module in [m for name, m in sys.modules.items() if name.startswith("ledmatrix_mqtt")]:
        if hasattr(module, "validate_plugin_id"):  # the original, or an earlier test's counter
            monkeypatch.setattr(module, "validate_plugin_id", counted)


def _spy(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, calls: list[Any]) -> None:
    original: Callable[..., Any] = getattr(cls, name)

    def spied(self: object, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(url)
        return original(self, url, *args, **kwargs)

    monkeypatch.setattr(cls, name, spied)


def test_an_install_by_id_over_mqtt_checks_the_id_once(
    app: Appliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[Any] = []
    _count_calls(monkeypatch, checked)
    answer = app.command("install", {"plugin_id": "weather"})
    assert answer["status"] == "ok", answer
    assert (app.state_dir / "plugins" / "weather" / "manifest.json").is_file()
    assert checked == ["weather"]
    checked.clear()
    switched = app.command("disable", {"plugin_id": "weather"})
    assert switched["status"] == "ok" and switched["data"]["enabled"] is False, switched
    assert checked == ["weather"]


def test_a_settings_change_and_a_rotation_order_check_each_id_once(
    app: Appliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[Any] = []
    _count_calls(monkeypatch, checked)
    configured = app.command("configure", {"plugin_id": "clock", "settings": {"show_date": False}})
    assert configured["status"] == "ok", configured
    assert checked == ["clock"]
    checked.clear()
    ordered = app.command("rotation", {"order": ["status", "clock"]})
    assert ordered["status"] == "ok" and ordered["data"]["order"][:2] == ["status", "clock"], (
        ordered
    )
    assert checked == ["status", "clock"]


def test_an_install_from_a_url_over_mqtt_checks_the_url_policy_once(
    app: Appliance, shelf: PluginShelf, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = shelf.fake.repo_url("tests", "monorepo")
    policy: list[str] = []
    host_checks: list[str] = []
    checked: list[Any] = []
    _spy(monkeypatch, Installer, "check_source_url", policy)
    _spy(monkeypatch, HttpClient, "check_url", host_checks)
    _count_calls(monkeypatch, checked)
    answer = app.command("install", {"url": url, "plugin_path": "plugins/clock-two"})
    assert answer["status"] == "ok", answer
    assert answer["data"]["plugin_id"] == "clock-two"
    assert policy == [url]
    assert host_checks.count(url) == 1  # downloads check their own URLs, hop by hop
    assert checked == []  # the id comes from the manifest, checked when it is parsed


def test_a_bad_id_or_a_forbidden_url_is_still_refused_at_the_boundary(app: Appliance) -> None:
    bad_id = app.command("install", {"plugin_id": "../etc"})
    assert bad_id["error"]["code"] == "invalid_plugin_id"
    outside = app.command("install", {"url": "https://evil.example.com/a/b"})
    assert outside["error"]["code"] == "forbidden"
    assert sorted(p.name for p in (app.state_dir / "plugins").iterdir()) == []
