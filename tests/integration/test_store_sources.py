"""What an install fetches, who owns a plugin id, and hostile text from the registry.

The fake GitHub serves the registry in the real ``plugins.json`` format (entries with
``versions[]`` whose ``download_url`` is a tag archive), real files, real config edits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.api import SearchQuery
from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.errors import DownloadFailed, IdConflict, InvalidManifest
from ledmatrix_mqtt.store.service import PluginStore
from ledmatrix_mqtt.store.wiring import build_store
from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files, registry_entry


def _config(tmp_path: Path, fake: FakeGitHub) -> Path:
    doc = {"state_dir": "state", "store": fake.store_config(), "plugins": {}}
    path = tmp_path / "config.yaml"
    path.write_text(yamlio.dump(doc))
    return path


def _builtins(tmp_path: Path) -> Path:
    root = tmp_path / "builtin"
    for name, data in plugin_files("clock", "1.0.0").items():
        (root / "clock").mkdir(parents=True, exist_ok=True)
        (root / "clock" / name).write_bytes(data)
    return root


@pytest.fixture
def open_store(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[type[PluginStore]]:
    stores: list[PluginStore] = []

    def opener() -> PluginStore:
        store = build_store(
            load_config(_config(tmp_path, fake_github)), builtin_dir=_builtins(tmp_path)
        )
        store.recover_at_start()
        stores.append(store)
        return store

    yield opener  # type: ignore[misc]
    for store in stores:
        store.operations.stop()
        store.registry.close()


def _blocks(tmp_path: Path) -> dict[str, object]:
    data = yamlio.read(tmp_path / "config.yaml")
    return dict(data.get("plugins") or {})


# -- what an install fetches ------------------------------------------------------------------
def test_install_takes_the_branch_head_not_the_legacy_tag_download_url(
    open_store: type[PluginStore], fake_github: FakeGitHub
) -> None:
    """clock-simple: the registry's versions[].download_url is refs/tags/v1.0.0.zip while the
    branch head (what LEDMatrix installs) is 1.0.4; users got the old version."""
    fake_github.add_repo("tests", "simple", plugin_files("simple", "1.0.4"))
    fake_github.add_tag("tests", "simple", "v1.0.0", plugin_files("simple", "1.0.0"))
    entry = registry_entry(fake_github, "simple", latest_version="1.0.4")
    entry["versions"] = [
        {"version": "1.0.0", "download_url": f"{entry['repo']}/archive/refs/tags/v1.0.0.zip"}
    ]
    fake_github.set_registry([entry])
    store = open_store()
    [shown] = store.search(SearchQuery(query="simple")).entries
    result = store.install("simple")
    assert result.version == "1.0.4" == shown.entry.latest_version
    [listed] = [p for p in store.list_installed() if p.id == "simple"]
    assert (listed.version, listed.latest_version, listed.update_available) == (
        "1.0.4", "1.0.4", False)  # fmt: skip
    assert fake_github.requests("refs/tags") == []


def test_registry_latest_ahead_of_head_manifest_gives_no_update_loop(
    open_store: type[PluginStore], fake_github: FakeGitHub
) -> None:
    """The registry says 1.0.5 while the branch head's manifest still says 1.0.4: after one
    update the plugin is the registry's latest and no update is offered again."""
    fake_github.add_repo("tests", "simple", plugin_files("simple", "1.0.4"))
    fake_github.set_registry([registry_entry(fake_github, "simple", latest_version="1.0.4")])
    store = open_store()
    store.install("simple")
    fake_github.set_registry([registry_entry(fake_github, "simple", latest_version="1.0.5")])
    store.registry.fetch_registry(force_refresh=True)
    store.inventory.invalidate()
    assert store.inventory.get("simple").update_available  # type: ignore[union-attr]
    store.update("simple")
    after = store.inventory.get("simple")
    assert after is not None and not after.update_available
    assert after.latest_version == after.version == "1.0.4"
    downloads = len(fake_github.requests("codeload"))
    assert store.update("simple").action == "up_to_date"
    assert store.update_all().results == ()
    assert len(fake_github.requests("codeload")) == downloads


def test_fake_registry_is_served_in_the_real_plugins_json_format(
    fake_github: FakeGitHub,
) -> None:
    fake_github.set_registry([registry_entry(fake_github, "simple", latest_version="1.0.4")])
    [entry] = fake_github.registry["plugins"]
    assert {"id", "name", "repo", "branch", "plugin_path", "latest_version", "versions"} <= set(
        entry
    )
    assert entry["versions"][0]["download_url"].endswith("/archive/refs/tags/v1.0.4.zip")


# -- ids are owned by one source ---------------------------------------------------------------
def test_entry_whose_manifest_id_is_an_installed_plugin_cannot_replace_it(
    open_store: type[PluginStore], fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_repo("tests", "weather", plugin_files("weather", "1.0.0"))
    fake_github.add_repo("evil", "impostor", plugin_files("weather", "9.9.9", text="PWNED"))
    impostor = registry_entry(fake_github, "impostor", repo="x")
    impostor["repo"] = fake_github.repo_url("evil", "impostor")
    fake_github.set_registry([registry_entry(fake_github, "weather"), impostor])
    store = open_store()
    store.install("weather")
    with pytest.raises(IdConflict) as caught:
        store.install("impostor")
    assert caught.value.code == "id_conflict"
    [weather] = [p for p in store.list_installed() if p.id == "weather"]
    assert (weather.version, weather.registry_id) == ("1.0.0", "weather")
    assert b"PWNED" not in (Path(weather.path) / "manager.py").read_bytes()
    shown = {e.entry.id: e.installed for e in store.search().entries}
    assert shown == {"weather": True, "impostor": False}
    # the user who means it uninstalls first
    store.uninstall("weather")
    assert store.install("impostor").version == "9.9.9"


def test_manifest_id_of_a_builtin_is_refused(
    open_store: type[PluginStore], fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_repo("evil", "clock2", plugin_files("clock", "9.9.9"))
    fake_github.set_registry(
        [{**registry_entry(fake_github, "clock2"), "repo": fake_github.repo_url("evil", "clock2")}]
    )
    store = open_store()
    with pytest.raises(IdConflict):
        store.install("clock2")
    assert not (tmp_path / "state" / "plugins" / "clock").exists()
    [clock] = [p for p in store.list_installed() if p.id == "clock"]
    assert clock.source.value == "built-in"


def test_registry_entry_named_like_a_builtin_shows_no_update_on_it(
    open_store: type[PluginStore], fake_github: FakeGitHub
) -> None:
    fake_github.add_repo("evil", "clock", plugin_files("clock", "9.9.9"))
    fake_github.set_registry(
        [{**registry_entry(fake_github, "clock", latest_version="9.9.9"),
          "repo": fake_github.repo_url("evil", "clock")}]
    )  # fmt: skip
    store = open_store()
    store.registry.fetch_registry(force_refresh=True)
    store.inventory.invalidate()
    [clock] = [p for p in store.list_installed() if p.id == "clock"]
    assert not clock.update_available and clock.latest_version == ""
    with pytest.raises(IdConflict):
        store.install("clock")


# -- hostile text --------------------------------------------------------------------------------
def _surrogate_manifest_files(plugin_id: str) -> dict[str, bytes]:
    files = plugin_files(plugin_id, "1.0.0")
    data = json.loads(files["manifest.json"])
    text = json.dumps(data).replace(json.dumps(data["name"]), '"bad \\ud800 name"')
    files["manifest.json"] = text.encode()
    return files


def test_surrogate_in_manifest_name_is_invalid_manifest_and_the_store_keeps_answering(
    open_store: type[PluginStore], fake_github: FakeGitHub
) -> None:
    fake_github.add_repo("tests", "sur", _surrogate_manifest_files("sur"))
    fake_github.set_registry([registry_entry(fake_github, "sur")])
    store = open_store()
    with pytest.raises(InvalidManifest, match="lone surrogate"):
        store.install("sur")
    assert [p.id for p in store.list_installed() if p.source.value != "built-in"] == []


def test_surrogate_in_installed_manifest_after_restart_list_and_uninstall_still_work(
    open_store: type[PluginStore], fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_repo("tests", "sur", plugin_files("sur", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "sur")])
    store = open_store()
    store.install("sur")
    store.operations.stop()
    manifest = tmp_path / "state" / "plugins" / "sur" / "manifest.json"
    manifest.write_bytes(_surrogate_manifest_files("sur")["manifest.json"])
    restarted = open_store()  # a restart
    [listed] = [p for p in restarted.list_installed() if p.id == "sur"]
    assert listed.error.startswith("invalid_manifest") and listed.name == "sur"
    listed.error.encode("utf-8")  # every field is publishable
    assert restarted.uninstall("sur").removed_files
    assert "sur" not in _blocks(tmp_path)


def test_surrogate_in_a_registry_entry_drops_it_and_the_registry_copy_saves(
    open_store: type[PluginStore], fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_repo("tests", "good", plugin_files("good", "1.0.0"))
    bad = registry_entry(fake_github, "bad", name="x\ud800y")
    fake_github.set_registry([bad, registry_entry(fake_github, "good")])
    store = open_store()
    assert [e.entry.id for e in store.search().entries] == ["good"]
    assert store.install("good").version == "1.0.0"
    copy = json.loads((tmp_path / "state" / "cache" / "registry.json").read_text("utf-8"))
    assert [p["id"] for p in copy["document"]["plugins"]] == ["bad", "good"]
    restarted = open_store()
    held = restarted.registry.cached_registry()
    assert held is not None and [e.id for e in held.entries] == ["good"]


def test_a_requested_version_installs_that_release_and_then_updates_to_the_head(
    open_store: type[PluginStore], fake_github: FakeGitHub
) -> None:
    fake_github.add_repo("tests", "simple", plugin_files("simple", "1.0.4"))
    fake_github.add_tag("tests", "simple", "v1.0.0", plugin_files("simple", "1.0.0"))
    fake_github.set_registry([registry_entry(fake_github, "simple", latest_version="1.0.4")])
    store = open_store()
    entry = store.registry.resolve("simple")
    assert store.installer.install_entry(entry, version="1.0.0").version == "1.0.0"
    store.inventory.invalidate()
    pinned = store.inventory.get("simple")
    assert pinned is not None and pinned.update_available and pinned.latest_version == "1.0.4"
    assert store.update("simple").version == "1.0.4"
    after = store.inventory.get("simple")
    assert after is not None and not after.update_available
    with pytest.raises(DownloadFailed):
        store.installer.install_entry(entry, version="0.0.1")  # no such release
