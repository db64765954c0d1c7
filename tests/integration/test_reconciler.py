"""The reconcile executor over real folders and a real config file; fakes at its ports."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ledmatrix_mqtt.config_editor import ConfigEditor
from ledmatrix_mqtt.core.models import InstallResult, Registry, RegistryEntry
from ledmatrix_mqtt.errors import (
    Busy,
    DownloadFailed,
    Incompatible,
    NotFound,
    RegistryUnavailable,
)
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.reconciler import Reconciler
from tests.support import yamlio
from tests.support.plugin_factory import fresh_state, plugin_files


def write_plugin(root: Path, plugin_id: str, version: str = "1.0.0") -> None:
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in plugin_files(plugin_id, version).items():
        (folder / rel).write_bytes(data)


class FakeRecords:
    def __init__(self) -> None:
        self.uninstalled: set[str] = set()
        self.tombstones: set[str] = set()

    def is_uninstalled(self, plugin_id: str) -> bool:
        return plugin_id in self.uninstalled

    def tombstoned(self, plugin_id: str) -> bool:
        return plugin_id in self.tombstones


class FakeStore:
    """The resolve and install ports: a registry dict, a failure switch, call logs."""

    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self.entries: dict[str, RegistryEntry] = {}
        self.resolve_error: Exception | None = None
        self.install_error: Exception | None = None
        self.resolved: list[str] = []
        self.installed: list[str] = []
        self.on_resolve: Callable[[str], None] = lambda _id: None

    def publish(self, plugin_id: str, **kw: str) -> None:
        self.entries[plugin_id] = RegistryEntry(id=plugin_id, name=plugin_id, **kw)

    def resolve(self, plugin_id: str) -> RegistryEntry:
        self.resolved.append(plugin_id)
        self.on_resolve(plugin_id)
        if self.resolve_error is not None:
            raise self.resolve_error
        if plugin_id not in self.entries:
            raise NotFound(f"{plugin_id} is not in the registry")
        return self.entries[plugin_id]

    def install(self, plugin_id: str) -> InstallResult:
        self.installed.append(plugin_id)
        if self.install_error is not None:
            raise self.install_error
        entry = self.entries[plugin_id]
        folder_id = entry.plugin_path.rsplit("/", 1)[-1] if entry.plugin_path else plugin_id
        write_plugin(self.layout.plugins, folder_id)
        return InstallResult(plugin_id=folder_id, action="installed", version="1.0.0")


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.layout = fresh_state(tmp_path)
        self.builtin = tmp_path / "builtin"
        self.builtin.mkdir()
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text("# my config\ndevice:\n  name: Kitchen\nplugins: {}\n")
        self.editor = ConfigEditor(self.config_path)
        self.records = FakeRecords()
        self.store = FakeStore(self.layout)
        self.registry: Registry | None = None
        self.inventory = PluginInventory(
            self.layout,
            self.builtin,
            config_blocks=self.editor.plugin_blocks,
            registry=lambda: self.registry,
        )
        self.state_path = self.layout.cache / "reconcile.json"
        self.reconciler = self.make()

    def make(self) -> Reconciler:
        return Reconciler(
            self.inventory,
            install=self.store.install,
            resolve=self.store.resolve,
            config=self.editor,
            records=self.records,
            state_path=self.state_path,
            registry=lambda: self.registry,
        )

    def config(self) -> dict[str, object]:
        data = yamlio.read(self.config_path)
        assert isinstance(data, dict)
        return data

    def blocks(self) -> dict[str, dict[str, object]]:
        plugins = self.config().get("plugins") or {}
        assert isinstance(plugins, dict)
        return plugins

    def set_blocks(self, **blocks: bool) -> None:
        for pid, enabled in blocks.items():
            self.editor.set_enabled(pid.replace("_", "-"), enabled)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_found_folder_gets_a_disabled_block_and_the_file_keeps_its_keys(world: World) -> None:
    write_plugin(world.layout.plugins, "weather")
    report = world.reconciler.reconcile()
    assert [(i.plugin_id, i.action) for i in report.fixed] == [("weather", "add_config_block")]
    assert world.blocks() == {"weather": {"enabled": False}}
    assert world.config()["device"] == {"name": "Kitchen"}
    assert world.config_path.read_text().startswith("# my config")
    assert report.successful
    again = world.reconciler.reconcile()
    assert again.inconsistencies == () and again.fixed == ()


def test_builtin_without_block_gets_an_enabled_block(world: World) -> None:
    write_plugin(world.builtin, "clock")
    world.reconciler.reconcile()
    assert world.blocks() == {"clock": {"enabled": True}}


def test_missing_plugin_is_auto_repaired_from_the_registry(world: World) -> None:
    world.set_blocks(news=True)
    world.store.publish("news")
    report = world.reconciler.reconcile()
    assert world.store.installed == ["news"]
    assert [i.plugin_id for i in report.fixed] == ["news"]
    assert (world.layout.plugins / "news" / "manifest.json").exists()
    assert world.reconciler.reconcile().inconsistencies == ()


def test_dry_run_plans_without_acting(world: World) -> None:
    write_plugin(world.layout.plugins, "weather")
    world.set_blocks(news=True)
    world.store.publish("news")
    report = world.reconciler.reconcile(dry_run=True)
    assert report.dry_run and report.fixed == ()
    assert {(i.plugin_id, i.action) for i in report.inconsistencies} == {
        ("news", "install"),
        ("weather", "add_config_block"),
    }
    assert world.store.resolved == [] and world.store.installed == []
    assert "weather" not in world.blocks()
    assert world.reconciler.last_report() is None


def test_regression_309_no_reinstall_loop_for_ids_missing_from_the_registry(world: World) -> None:
    """Upstream 39ccdcf0 (#309): ``github``/``youtube`` were reinstalled on every request.

    A second pass (and a restart) makes zero resolve/install calls for an unrecoverable id.
    """
    world.set_blocks(github=True)
    first = world.reconciler.reconcile()
    assert world.store.resolved == ["github"] and world.store.installed == []
    assert [(i.plugin_id, i.error_code) for i in first.needs_attention] == [("github", "not_found")]

    second = world.reconciler.reconcile()
    restarted = world.make().reconcile()
    assert world.store.resolved == ["github"]
    assert world.store.installed == []
    for report in (second, restarted):
        assert [i.plugin_id for i in report.needs_attention] == ["github"]
        assert "force" in report.needs_attention[0].detail


def test_regression_309_transient_registry_failure_never_marks_unrecoverable(world: World) -> None:
    """Upstream 39ccdcf0 (#309 review): an empty-registry fallback on a flaky boot marked all."""
    world.set_blocks(news=True)
    world.store.publish("news")
    world.store.resolve_error = RegistryUnavailable("no route to host")
    report = world.reconciler.reconcile()
    assert [i.error_code for i in report.needs_attention] == ["registry_unavailable"]
    assert world.reconciler.unrecoverable() == frozenset()

    world.store.resolve_error = None
    report = world.reconciler.reconcile()
    assert world.store.installed == ["news"]
    assert [i.plugin_id for i in report.fixed] == ["news"]


def test_download_failure_is_transient(world: World) -> None:
    world.set_blocks(news=True)
    world.store.publish("news")
    world.store.install_error = DownloadFailed("connection reset")
    world.reconciler.reconcile()
    assert world.reconciler.unrecoverable() == frozenset()
    world.reconciler.reconcile()
    assert world.store.installed == ["news", "news"]


def test_incompatible_plugin_is_remembered(world: World) -> None:
    world.set_blocks(news=True)
    world.store.publish("news")
    world.store.install_error = Incompatible("needs a newer core")
    world.reconciler.reconcile()
    world.reconciler.reconcile()
    assert world.store.installed == ["news"]
    assert world.reconciler.unrecoverable() == frozenset({"news"})


def test_force_retries_an_unrecoverable_id_exactly_once(world: World) -> None:
    """Upstream 39ccdcf0 (#309): ``force=True`` clears the set; one attempt follows."""
    world.set_blocks(github=True)
    world.reconciler.reconcile()
    world.store.publish("github")
    report = world.reconciler.reconcile(force=True)
    assert world.store.installed == ["github"]
    assert world.store.resolved == ["github", "github"]
    assert [i.plugin_id for i in report.fixed] == ["github"]
    assert world.reconciler.unrecoverable() == frozenset()


def test_uninstalled_plugin_is_not_resurrected(world: World) -> None:
    """Upstream 39ccdcf0 (#309): the reconciler reinstalled a plugin being uninstalled."""
    world.set_blocks(weather=True)
    world.store.publish("weather")
    world.records.tombstones.add("weather")
    report = world.reconciler.reconcile(force=True)
    assert world.store.resolved == [] and world.store.installed == []
    assert [i.plugin_id for i in report.needs_attention] == ["weather"]


def test_uninstall_starting_mid_pass_is_honoured(world: World) -> None:
    """Upstream 39ccdcf0 (#309): a reconcile firing mid-uninstall must not reinstall."""
    world.set_blocks(weather=True)
    world.store.publish("weather")
    world.store.on_resolve = lambda pid: world.records.tombstones.add(pid)
    report = world.reconciler.reconcile()
    assert world.store.installed == []
    assert "uninstall" in report.needs_attention[0].detail


def test_uninstalled_builtin_is_never_restored(world: World) -> None:
    """Upstream d22d0a37 (#368): a core update restored built-ins the user had uninstalled."""
    write_plugin(world.builtin, "clock")
    world.records.uninstalled.add("clock")
    world.set_blocks(news=True)
    world.records.uninstalled.add("news")
    world.store.publish("news")
    report = world.reconciler.reconcile(force=True)
    assert "clock" not in world.blocks()
    assert world.store.installed == []
    assert {i.plugin_id for i in report.inconsistencies} == {"clock", "news"}


def test_non_plugin_keys_are_never_flagged(world: World) -> None:
    """Upstream ea95f37d (#351): ``sync``/``github``/``youtube`` were flagged as plugins."""
    world.config_path.write_text(
        "github:\n  token: x\nyoutube:\n  key: y\nsync:\n  on: true\n"
        "plugins:\n  clock:\n    enabled: true\n"
    )
    write_plugin(world.builtin, "clock")
    report = world.reconciler.reconcile()
    assert report.inconsistencies == ()
    assert world.store.resolved == []


def test_regression_353_config_wins_for_enabled(world: World) -> None:
    """Upstream 35c540d0 (#353): reconcile synced state over config and disabled plugins."""
    write_plugin(world.layout.plugins, "news")
    write_plugin(world.layout.plugins, "stocks")
    world.config_path.write_text("plugins:\n  news:\n    enabled: false\n  stocks: {}\n")
    report = world.reconciler.reconcile()
    assert report.inconsistencies == ()
    assert world.blocks() == {"news": {"enabled": False}, "stocks": {}}
    enabled = {p.id: p.enabled for p in world.inventory.list()}
    assert enabled == {"news": False, "stocks": True}


def test_alias_config_key_is_satisfied_after_repair(world: World) -> None:
    """Upstream 31d607f6 (#439): registry ``weather`` lives in ``ledmatrix-weather``."""
    world.set_blocks(weather=True)
    world.store.publish("weather", plugin_path="plugins/ledmatrix-weather")
    world.registry = Registry(entries=tuple(world.store.entries.values()))
    report = world.reconciler.reconcile()
    assert world.store.installed == ["weather"]
    assert "alias" in report.fixed[0].detail
    again = world.reconciler.reconcile()
    assert again.inconsistencies == ()
    assert world.store.installed == ["weather"]


def test_broken_manifest_needs_a_person(world: World) -> None:
    folder = world.layout.plugins / "weather"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    world.set_blocks(weather=True)
    report = world.reconciler.reconcile()
    assert [(i.plugin_id, i.kind) for i in report.needs_attention] == [
        ("weather", "broken_manifest")
    ]
    assert world.store.resolved == []


def test_concurrent_pass_raises_busy(world: World) -> None:
    world.set_blocks(news=True)
    world.store.publish("news")
    entered, release = threading.Event(), threading.Event()

    def slow(_pid: str) -> None:
        entered.set()
        release.wait(5)

    world.store.on_resolve = slow
    worker = threading.Thread(target=world.reconciler.reconcile)
    worker.start()
    assert entered.wait(5)
    with pytest.raises(Busy):
        world.reconciler.reconcile()
    release.set()
    worker.join(5)
    assert world.store.installed == ["news"]
    assert world.reconciler.last_report() is not None


def test_unrecoverable_state_file_is_atomic_json_and_survives_restart(world: World) -> None:
    world.set_blocks(github=True)
    world.reconciler.reconcile()
    assert world.make().unrecoverable() == frozenset({"github"})
    world.state_path.write_text("{corrupt")
    assert world.make().unrecoverable() == frozenset()


def test_unrecoverable_id_is_forgotten_once_its_block_is_gone(world: World) -> None:
    world.set_blocks(github=True)
    world.reconciler.reconcile()
    world.editor.remove_block("github")
    world.reconciler.reconcile()
    assert world.reconciler.unrecoverable() == frozenset()
