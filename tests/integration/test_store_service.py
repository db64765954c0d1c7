"""The store facade end to end: fake GitHub + real files + real config edits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.api import SearchQuery
from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.core.models import PluginSource
from ledmatrix_mqtt.errors import (
    Forbidden,
    InvalidPluginId,
    NotFound,
    NotInstalled,
    StorageFailed,
)
from ledmatrix_mqtt.store.service import PluginStore
from ledmatrix_mqtt.store.wiring import build_store
from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files, registry_entry


def write_config(tmp_path: Path, fake: FakeGitHub, **extra: object) -> Path:
    doc = {"state_dir": "state", "store": fake.store_config(), "plugins": {}, **extra}
    path = tmp_path / "config.yaml"
    path.write_text(yamlio.dump(doc))
    return path


@pytest.fixture
def store(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[PluginStore]:
    fake_github.add_repo("tests", "hello", plugin_files("hello", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "hello")])
    cfg = load_config(write_config(tmp_path, fake_github))
    built = build_store(cfg, builtin_dir=None)
    yield built
    built.operations.stop()
    built.registry.close()


def plugin_blocks(store: PluginStore) -> dict[str, object]:
    return yamlio.read(Path(store.inventory._config_blocks.__self__.path))["plugins"]  # type: ignore[attr-defined]


def test_install_enables_and_lists(store: PluginStore) -> None:
    progress = []
    result = store.install("hello", progress=progress.append)
    assert result.action == "installed" and result.version == "1.0.0"
    assert {p.stage.value for p in progress} >= {"downloading", "done"}
    [listed] = store.list_installed()
    assert (listed.id, listed.version, listed.enabled, listed.source) == (
        "hello", "1.0.0", True, PluginSource.REGISTRY)  # fmt: skip
    assert plugin_blocks(store)["hello"] == {"enabled": True}


def test_errors_have_codes(store: PluginStore) -> None:
    with pytest.raises(NotFound):
        store.install("absent")
    with pytest.raises(InvalidPluginId):
        store.install("../etc")
    with pytest.raises(NotInstalled):
        store.uninstall("hello")
    with pytest.raises(Forbidden):
        store.install_from_url("http://127.0.0.1/x/y")


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", ".hidden", "UPPER"])
def test_every_store_entry_refuses_a_bad_id_before_touching_anything(
    store: PluginStore, bad: str
) -> None:
    """The id is checked where it enters the store; the layers inside trust it. A
    switch or a settings change finds no installed plugin by that name."""
    before = Path(store.config_editor.path).read_text()  # type: ignore[attr-defined]
    for call in (store.install, store.uninstall, store.update):
        with pytest.raises(InvalidPluginId):
            call(bad)
    with pytest.raises(NotInstalled):
        store.set_enabled(bad, True)
    with pytest.raises(NotInstalled):
        store.configure(bad, {"x": 1})
    assert store.records.uninstalled() == frozenset()
    assert Path(store.config_editor.path).read_text() == before  # type: ignore[attr-defined]


def test_uninstall_removes_files_config_and_blocks_resurrection(store: PluginStore) -> None:
    store.install("hello")
    result = store.uninstall("hello")
    assert result.removed_files and result.removed_config
    assert store.list_installed() == ()
    assert "hello" not in plugin_blocks(store)
    assert store.records.is_uninstalled("hello")
    report = store.reconcile()
    assert report.fixed == () and store.list_installed() == ()
    store.install("hello")  # installing again clears the record
    assert not store.records.is_uninstalled("hello")


def test_update_when_registry_has_newer(store: PluginStore, fake_github: FakeGitHub) -> None:
    store.install("hello")
    assert store.update("hello").action == "up_to_date"
    fake_github.add_repo("tests", "hello", plugin_files("hello", "1.1.0"))
    fake_github.set_registry([registry_entry(fake_github, "hello", latest_version="1.1.0")])
    store.registry.fetch_registry(force_refresh=True)
    store.inventory.invalidate()
    assert store.list_installed()[0].update_available
    result = store.update("hello")
    assert (result.action, result.version, result.previous_version) == ("updated", "1.1.0", "1.0.0")
    assert not store.list_installed()[0].update_available


def test_enable_disable_round_trip(store: PluginStore) -> None:
    store.install("hello")
    assert store.set_enabled("hello", False).enabled is False
    assert plugin_blocks(store)["hello"] == {"enabled": False}
    assert store.set_enabled("hello", True).enabled is True


def test_enable_during_an_uninstall_does_not_recreate_the_block(store: PluginStore) -> None:
    """set_enabled bypasses the queue; with the uninstall intent recorded it must refuse."""
    store.install("hello")
    store.records.record_uninstalled("hello")  # the state while an uninstall runs
    with pytest.raises(NotInstalled, match="being uninstalled"):
        store.set_enabled("hello", False)
    assert plugin_blocks(store)["hello"] == {"enabled": True}


def test_search_marks_installed(store: PluginStore) -> None:
    store.install("hello")
    result = store.search(SearchQuery(query="hello"))
    assert [e.entry.id for e in result.entries] == ["hello"]
    assert result.entries[0].installed and result.entries[0].installed_version == "1.0.0"


def test_search_marks_installed_through_a_manifest_id_alias(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """Search's ``installed`` flag guessed names by hand (id, plugin_path basename) instead of
    asking the alias table, so an entry whose ``manifest_id`` names the installed folder
    (registry ``weather`` -> ``ledmatrix-weather``, upstream #431) showed as not installed
    although ``list`` matched it to the same entry."""
    fake_github.add_repo("tests", "weather", plugin_files("ledmatrix-weather", "1.0.0"))
    fake_github.set_registry(
        [registry_entry(fake_github, "weather", manifest_id="ledmatrix-weather")]
    )
    store = build_store(load_config(write_config(tmp_path, fake_github)), builtin_dir=None)
    try:
        assert store.install("weather").plugin_id == "ledmatrix-weather"
        assert store.list_installed()[0].latest_version == "1.0.0"  # list resolves the alias
        [hit] = store.search(SearchQuery(query="weather")).entries
        assert hit.installed and hit.installed_version == "1.0.0"
    finally:
        store.operations.stop()
        store.registry.close()


def test_reconcile_repairs_missing_plugin(tmp_path: Path, fake_github: FakeGitHub) -> None:
    """A config block with no files is reinstalled once; an unknown id needs a person."""
    fake_github.add_repo("tests", "hello", plugin_files("hello", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "hello")])
    path = write_config(tmp_path, fake_github, plugins={"hello": {"enabled": True},
                                                          "ghost": {"enabled": True}})  # fmt: skip
    store = build_store(load_config(path), builtin_dir=None)
    try:
        dry = store.reconcile(dry_run=True)
        assert dry.dry_run and store.list_installed() == ()
        report = store.reconcile()
        assert [i.plugin_id for i in report.fixed] == ["hello"]
        assert [i.plugin_id for i in report.needs_attention] == ["ghost"]
        assert [p.id for p in store.list_installed()] == ["hello"]
        before = len(fake_github.log)
        again = store.reconcile()
        assert [i.plugin_id for i in again.needs_attention] == ["ghost"]
        assert len(fake_github.log) == before  # no network for a known-unrecoverable id
    finally:
        store.operations.stop()
        store.registry.close()


def test_offline_cli_json(
    tmp_path: Path, fake_github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    from ledmatrix_mqtt.cli.main import main

    fake_github.add_repo("tests", "hello", plugin_files("hello", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "hello")])
    path = write_config(tmp_path, fake_github)
    assert main(["--config", str(path), "plugins", "install", "hello", "--offline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["data"]["plugin_id"] == "hello"
    assert main(["--config", str(path), "plugins", "list", "--offline", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["data"]["plugins"]
    assert [p["id"] for p in listed if p["source"] != "built-in"] == ["hello"]
    assert main(["--config", str(path), "plugins", "uninstall", "nope", "--offline", "--json"]) == 1
    err = json.loads(capsys.readouterr().out)
    assert err["error"]["code"] == "not_installed"


def test_offline_cli_refuses_while_service_holds_lock(
    tmp_path: Path, fake_github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    from ledmatrix_mqtt.cli.main import main
    from ledmatrix_mqtt.store.layout import StateLayout, StateLock

    path = write_config(tmp_path, fake_github)
    layout = StateLayout(tmp_path / "state")
    with StateLock(layout, "ledmatrix-mqtt service"):
        rc = main(["--config", str(path), "plugins", "list", "--offline"])
    assert rc == 1
    assert "in use by ledmatrix-mqtt service" in capsys.readouterr().err


def test_uninstall_failing_while_recording_intent_leaves_no_record(store: PluginStore) -> None:
    """Recording the intent writes two files; when the second (the tombstone) failed, the
    first stayed: the uninstall answered ``storage_failed`` yet the plugin was recorded as
    uninstalled, so the next start-up removed it."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("needs root and chattr to make one file unreplaceable")
    store.install("hello")
    store.records.record_uninstalled("other")  # tombstones.json now exists
    stones = store.records._tombstones_path  # type: ignore[attr-defined]
    if subprocess.run(["chattr", "+i", str(stones)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i unsupported here")
    try:
        with pytest.raises(StorageFailed):
            store.uninstall("hello")
    finally:
        subprocess.run(["chattr", "-i", str(stones)], check=False)
    assert not store.records.is_uninstalled("hello")
    store.recover_at_start()
    assert [p.id for p in store.list_installed()] == ["hello"]
    assert plugin_blocks(store)["hello"] == {"enabled": True}


def test_plugin_whose_manifest_id_differs_from_its_registry_id_can_be_updated(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """Registry ``weather`` holds manifest ``ledmatrix-weather`` (no plugin_path to alias
    it, upstream #439). The installer records the registry id in the source marker, but
    nothing read it: the installed plugin never showed ``latest_version`` or an update,
    ``update ledmatrix-weather`` answered ``not_found``, and a config key ``weather`` was
    reinstalled by every reconcile pass."""
    fake_github.add_repo("tests", "weather", plugin_files("ledmatrix-weather", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "weather")])
    path = write_config(tmp_path, fake_github, plugins={"weather": {"enabled": True}})
    store = build_store(load_config(path), builtin_dir=None)
    try:
        assert [i.plugin_id for i in store.reconcile().fixed] == ["weather"]
        again = store.reconcile()
        assert [(i.plugin_id, i.action) for i in again.inconsistencies] == []
        fake_github.add_repo("tests", "weather", plugin_files("ledmatrix-weather", "1.1.0"))
        fake_github.set_registry([registry_entry(fake_github, "weather", latest_version="1.1.0")])
        store.registry.fetch_registry(force_refresh=True)
        [plugin] = store.list_installed()
        assert (plugin.id, plugin.latest_version, plugin.update_available) == (
            "ledmatrix-weather", "1.1.0", True)  # fmt: skip
        [hit] = store.search(SearchQuery(query="weather")).entries
        assert hit.installed and hit.installed_version == "1.0.0"
        result = store.update("ledmatrix-weather")
        assert (result.action, result.version) == ("updated", "1.1.0")
    finally:
        store.operations.stop()
        store.registry.close()


def test_settings_written_under_the_registry_id_follow_the_plugin(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """A user writes ``plugins.weather`` (the registry id, with settings); the plugin installs
    as ``ledmatrix-weather``. The block must move to the canonical id, or the plugin would run
    disabled and without the user's settings."""
    fake_github.add_repo("tests", "weather", plugin_files("ledmatrix-weather", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "weather")])
    path = write_config(
        tmp_path, fake_github, plugins={"weather": {"enabled": True, "city": "Oslo"}}
    )
    store = build_store(load_config(path), builtin_dir=None)
    try:
        store.reconcile()
        blocks = yamlio.read(path)["plugins"]
        assert blocks == {"ledmatrix-weather": {"enabled": True, "city": "Oslo"}}
        [plugin] = store.list_installed()
        assert (plugin.id, plugin.enabled) == ("ledmatrix-weather", True)
        assert store.reconcile().inconsistencies == ()
    finally:
        store.operations.stop()
        store.registry.close()


def test_rename_block_keeps_settings_and_never_overwrites(
    store: PluginStore, tmp_path: Path
) -> None:
    """The config edit behind the two tests above and ``install <registry id>``."""
    path = tmp_path / "config.yaml"
    doc = yamlio.read(path)
    doc["plugins"] = {"hello-alias": {"enabled": False, "speed": 3}}
    path.write_text(yamlio.dump(doc))
    store.config_editor.rename_block("hello-alias", "hello")
    assert yamlio.read(path)["plugins"] == {"hello": {"enabled": False, "speed": 3}}
    assert store.config_editor.rename_block("absent", "hello") is False
    doc["plugins"] = {"a": {"x": 1}, "b": {"y": 2}}
    path.write_text(yamlio.dump(doc))
    assert store.config_editor.rename_block("a", "b") is False  # b's own block wins
    assert yamlio.read(path)["plugins"] == {"a": {"x": 1}, "b": {"y": 2}}


def test_quoted_boolean_enabled_means_the_same_everywhere(
    store: PluginStore, tmp_path: Path
) -> None:
    """Config validation accepts ``enabled: "on"`` (or "yes", "true") as true, but the one
    ``enabled`` rule that the list, the rotation and the reconciler use only took a YAML
    boolean: such a plugin passed ``config check`` and was silently disabled."""
    store.install("hello")
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text().replace("enabled: true", "enabled: 'on'"))
    assert load_config(path).plugins["hello"]["enabled"] is True  # a valid config
    assert store.list_installed()[0].enabled is True
    assert store.reconcile(dry_run=True).inconsistencies == ()


def test_uninstall_killed_after_removing_files_drops_the_config_block_at_start(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """11 of 20 kills just after ``removing`` left the config block: start-up recovery
    finished removing the files but never the block."""
    fake_github.add_repo("tests", "hello", plugin_files("hello", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "hello")])
    path = write_config(tmp_path, fake_github)
    store = build_store(load_config(path), builtin_dir=None)
    try:
        store.install("hello")
        store.records.record_uninstalled("hello")  # the uninstall's first steps...
        store.installer.remove("hello")  # ...files moved aside under the journal: killed here
    finally:
        store.operations.stop()
        store.registry.close()
    restarted = build_store(load_config(path), builtin_dir=None)
    try:
        assert "hello" in restarted.recover_at_start(str(path))
        assert not (tmp_path / "state" / "plugins" / "hello").exists()
        assert "hello" not in plugin_blocks(restarted)
        assert restarted.list_installed() == ()
        assert restarted.records.is_uninstalled("hello")
    finally:
        restarted.operations.stop()
        restarted.registry.close()


def test_update_all_with_the_registry_unreachable_uses_the_cached_copy_like_search(
    store: PluginStore, fake_github: FakeGitHub
) -> None:
    """``update --all`` refused with registry_unavailable while ``search`` served the
    cached copy; both now use the copy and say it is stale."""
    store.install("hello")
    fake_github.add_fault(r"plugins\.json$", "status", 503)
    assert store.search(SearchQuery(refresh=True)).stale
    result = store.update_all()
    assert result.stale and result.errors == () and result.results == ()
