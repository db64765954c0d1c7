"""PluginStore.configure / plugin_settings / set_rotation_order over real files and schemas."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.errors import (
    ConfigError,
    InvalidManifest,
    InvalidPayload,
    NotInstalled,
)
from ledmatrix_mqtt.store.service import PluginStore
from ledmatrix_mqtt.store.wiring import BUILTIN_PLUGINS_DIR, build_store
from tests.support import yamlio

CONFIG = """\
# the user's own words
state_dir: state
plugins:
  clock:
    enabled: true  # keep me
"""


class Hooks:
    def __init__(self) -> None:
        self.changes = 0

    def before_remove(self, plugin_id: str) -> None:
        pass

    def changed(self, *, wait: bool = True) -> None:
        self.changes += 1


@pytest.fixture
def builtins(tmp_path: Path) -> Path:
    root = tmp_path / "builtins"
    shutil.copytree(BUILTIN_PLUGINS_DIR / "clock", root / "clock")
    shutil.copytree(BUILTIN_PLUGINS_DIR / "clock", root / "broken")
    manifest = json.loads((root / "broken/manifest.json").read_text())
    (root / "broken/manifest.json").write_text(json.dumps({**manifest, "id": "broken"}))
    (root / "broken/config_schema.json").write_text('{"type": "object", "properties": 7}')
    return root


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def store(tmp_path: Path, builtins: Path, hooks: Hooks) -> Iterator[PluginStore]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    built = build_store(load_config(path), builtin_dir=builtins, hooks=hooks)
    yield built
    built.operations.stop()
    built.registry.close()


def config_text(store: PluginStore) -> str:
    return Path(store.config_editor.path).read_text()  # type: ignore[attr-defined]


def test_configure_writes_notifies_once_and_returns_effective_settings(
    store: PluginStore, hooks: Hooks
) -> None:
    settings = store.configure("clock", {"show_date": False, "enabled": False})
    assert hooks.changes == 1
    assert settings.values["show_date"] is False
    assert settings.values["color"] == (255, 160, 40)  # default
    assert "display_duration" in {s.key for s in settings.simple}
    text = config_text(store)
    assert "# the user's own words" in text and "# keep me" in text
    assert yamlio.load(text)["plugins"]["clock"] == {"enabled": False, "show_date": False}
    assert store.inventory.get("clock").enabled is False  # type: ignore[union-attr]
    clock = store.inventory.get("clock")
    assert clock is not None
    assert store.settings_of([clock])["clock"].values == settings.values


def test_refused_changes_touch_neither_the_file_nor_the_display(
    store: PluginStore, hooks: Hooks
) -> None:
    before = config_text(store)
    with pytest.raises(ConfigError):
        store.configure("clock", {"format_24h": 1})
    with pytest.raises(InvalidManifest):
        store.configure("broken", {"x": 1})
    with pytest.raises(NotInstalled):
        store.configure("absent", {"x": 1})
    with pytest.raises(NotInstalled):  # only valid ids are ever installed
        store.configure("../clock", {"x": 1})
    assert config_text(store) == before
    assert hooks.changes == 0


def test_configure_is_refused_while_the_plugin_is_being_uninstalled(store: PluginStore) -> None:
    store.records.record_uninstalled("clock")
    with pytest.raises(NotInstalled, match="being uninstalled"):
        store.configure("clock", {"show_date": False})


def test_rotation_order_is_checked_then_written(store: PluginStore, hooks: Hooks) -> None:
    for order, error in (
        (["clock", "clock"], InvalidPayload),
        (["clock", "absent"], NotInstalled),
        (["clock"] * 201, InvalidPayload),
    ):
        with pytest.raises(error):
            store.set_rotation_order(order)
    assert hooks.changes == 0
    assert store.set_rotation_order(["broken", "clock"]) == ("broken", "clock")
    assert hooks.changes == 1
    assert load_config(store.config_editor.path).display.rotation_order == ("broken", "clock")  # type: ignore[attr-defined]
