"""The installed-plugin inventory over real plugin folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.core.models import PluginSource, Registry
from ledmatrix_mqtt.core.registry_format import parse_registry
from ledmatrix_mqtt.store.inventory import SOURCE_MARKER, PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from tests.support.plugin_factory import fresh_state, plugin_files


def write_plugin(root: Path, plugin_id: str, version: str = "1.0.0", **kw: Any) -> Path:
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in plugin_files(plugin_id, version, **kw).items():
        (folder / rel).write_bytes(data)
    return folder


def age(*roots: Path) -> None:
    """Set every mtime under ``roots`` an hour back, out of the racy-timestamp window."""
    old = os.stat(roots[0]).st_mtime - 3600
    for root in roots:
        for path in sorted(root.rglob("*"), reverse=True):
            os.utime(path, (old, old), follow_symlinks=False)
        os.utime(root, (old, old))


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.layout = fresh_state(tmp_path)
        self.builtin = tmp_path / "builtin"
        self.builtin.mkdir()
        self.blocks: dict[str, Mapping[str, Any]] = {}
        self.registry: Registry | None = None
        self.inventory = PluginInventory(
            self.layout,
            self.builtin,
            config_blocks=lambda: self.blocks,
            registry=lambda: self.registry,
        )
        # These tests exercise the per-file gates; the 1 s memo is tested on its own below.
        self.inventory.recheck_seconds = 0.0


@pytest.fixture
def env(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_regression_309_warm_list_of_200_plugins_rereads_nothing(env: Setup) -> None:
    for i in range(200):
        write_plugin(env.layout.plugins, f"plugin-{i:03d}")
    age(env.layout.plugins, env.builtin)
    first = env.inventory.list()
    assert [p.id for p in first] == [f"plugin-{i:03d}" for i in range(200)]
    assert env.inventory.manifest_reads == 200
    scans = env.inventory.folder_scans

    assert env.inventory.list() == first
    assert env.inventory.manifest_reads == 200  # warm: no manifest re-read
    assert env.inventory.folder_scans == scans  # warm: no re-discovery


def test_new_folder_is_discovered_and_only_its_manifest_read(env: Setup) -> None:
    write_plugin(env.layout.plugins, "alpha")
    age(env.layout.plugins)
    env.inventory.list()
    write_plugin(env.layout.plugins, "beta")
    assert [p.id for p in env.inventory.list()] == ["alpha", "beta"]
    assert env.inventory.manifest_reads == 2


def test_edited_manifest_is_reread(env: Setup) -> None:
    folder = write_plugin(env.layout.plugins, "alpha")
    assert env.inventory.get("alpha").version == "1.0.0"  # type: ignore[union-attr]
    data = json.loads((folder / "manifest.json").read_text())
    data["version"] = "1.0.10"
    (folder / "manifest.json").write_text(json.dumps(data))
    assert env.inventory.get("alpha").version == "1.0.10"  # type: ignore[union-attr]


def test_same_tick_edit_is_seen_while_the_timestamp_is_racy(env: Setup) -> None:
    """A coarse clock can give an edit the old mtime; a fresh signature is not trusted."""
    folder = write_plugin(env.layout.plugins, "alpha", "1.0.0")
    manifest = folder / "manifest.json"
    before = manifest.stat()
    assert env.inventory.get("alpha").version == "1.0.0"  # type: ignore[union-attr]
    manifest.write_text(manifest.read_text().replace("1.0.0", "2.0.0"))  # same size
    os.utime(manifest, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime, same inode
    assert env.inventory.get("alpha").version == "2.0.0"  # type: ignore[union-attr]


def test_removed_plugin_disappears(env: Setup) -> None:
    write_plugin(env.layout.plugins, "alpha")
    write_plugin(env.layout.plugins, "beta")
    env.inventory.list()
    shutil.rmtree(env.layout.plugins / "alpha")
    assert [p.id for p in env.inventory.list()] == ["beta"]


def test_regression_489_broken_manifests_are_listed_with_an_error_not_dropped(env: Setup) -> None:
    """Upstream 1fbe244e (#489): manifests without id or non-object manifests vanished."""
    write_plugin(env.layout.plugins, "good")
    no_id = env.layout.plugins / "no-id"
    no_id.mkdir()
    (no_id / "manifest.json").write_text(json.dumps({"name": "x", "class_name": "X"}))
    not_object = env.layout.plugins / "list-manifest"
    not_object.mkdir()
    (not_object / "manifest.json").write_text("[1, 2]")
    (env.layout.plugins / "empty").mkdir()
    mismatch = write_plugin(env.layout.plugins, "other")
    (mismatch / "manifest.json").write_text(
        (mismatch / "manifest.json").read_text().replace('"other"', '"different"')
    )
    listed = {p.id: p for p in env.inventory.list()}
    assert set(listed) == {"good", "no-id", "list-manifest", "empty", "other"}
    assert listed["good"].error == ""
    for pid in ("no-id", "list-manifest", "empty", "other"):
        assert listed[pid].error.startswith("invalid_manifest"), pid
        assert listed[pid].manifest is None
    assert "missing" in listed["empty"].error


def test_missing_manifest_is_not_reread_on_every_list(env: Setup) -> None:
    (env.layout.plugins / "empty").mkdir()
    env.inventory.list()
    env.inventory.list()
    assert env.inventory.manifest_reads == 1


def test_leftovers_and_invalid_names_are_ignored(env: Setup) -> None:
    write_plugin(env.layout.plugins, "alpha")
    for name in ("alpha.standalone-backup-preinstall", ".staging-alpha", "Alpha", "__pycache__",
                 "alpha.rollback", "alpha.tmp"):  # fmt: skip
        write_plugin(env.layout.plugins, name)
    (env.layout.plugins / "notes.txt").write_text("not a plugin")
    assert [p.id for p in env.inventory.list()] == ["alpha"]


def test_builtins_are_listed_and_an_installed_copy_overrides(env: Setup) -> None:
    write_plugin(env.builtin, "clock", "1.0.0")
    write_plugin(env.builtin, "text", "1.0.0")
    write_plugin(env.layout.plugins, "clock", "2.0.0")
    age(env.builtin, env.layout.plugins)
    listed = {p.id: p for p in env.inventory.list()}
    assert listed["text"].source is PluginSource.BUILTIN
    assert listed["clock"].source is PluginSource.LOCAL
    assert listed["clock"].version == "2.0.0"
    assert listed["clock"].path == str(env.layout.plugins / "clock")
    reads = env.inventory.manifest_reads
    env.inventory.list()
    assert env.inventory.manifest_reads == reads


def test_enabled_has_one_rule(env: Setup) -> None:
    """Upstream 35c540d0 (#353) and §5.4: one ``enabled`` default, the config's."""
    for pid in ("a-on", "b-off", "c-default", "d-noblock"):
        write_plugin(env.layout.plugins, pid)
    env.blocks = {"a-on": {"enabled": True}, "b-off": {"enabled": False}, "c-default": {}}
    enabled = {p.id: p.enabled for p in env.inventory.list()}
    assert enabled == {"a-on": True, "b-off": False, "c-default": True, "d-noblock": False}


def test_latest_version_and_update_available_from_the_cached_registry(env: Setup) -> None:
    write_plugin(env.layout.plugins, "news", "1.2.0")
    write_plugin(env.layout.plugins, "ledmatrix-weather", "2.0.0")
    write_plugin(env.layout.plugins, "stocks", "3.0.0")
    write_plugin(env.layout.plugins, "unlisted", "1.0.0")
    listed = {p.id: p for p in env.inventory.list()}
    assert listed["news"].latest_version == "" and not listed["news"].update_available

    env.registry = parse_registry(
        {
            "plugins": [
                {"id": "news", "name": "News", "latest_version": "1.10.0"},
                {
                    "id": "weather",
                    "name": "W",
                    "plugin_path": "plugins/ledmatrix-weather",
                    "latest_version": "2.1.0",
                },
                {"id": "stocks", "name": "S", "latest_version": "2.9.0"},
            ]
        }
    )
    listed = {p.id: p for p in env.inventory.list()}
    assert (listed["news"].latest_version, listed["news"].update_available) == ("1.10.0", True)
    weather = listed["ledmatrix-weather"]
    assert (weather.latest_version, weather.update_available) == ("2.1.0", True)
    assert (listed["stocks"].latest_version, listed["stocks"].update_available) == ("2.9.0", False)
    assert listed["unlisted"].latest_version == ""


def test_source_from_marker_file(env: Setup) -> None:
    reg = write_plugin(env.layout.plugins, "from-registry")
    (reg / SOURCE_MARKER).write_text(json.dumps({"source": "registry"}))
    url = write_plugin(env.layout.plugins, "from-url")
    (url / SOURCE_MARKER).write_text(json.dumps({"source": "url", "url": "https://x/y.git"}))
    write_plugin(env.layout.plugins, "by-hand")
    bad = write_plugin(env.layout.plugins, "bad-marker")
    (bad / SOURCE_MARKER).write_text("{not json")
    sources = {p.id: p.source for p in env.inventory.list()}
    assert sources == {
        "from-registry": PluginSource.REGISTRY,
        "from-url": PluginSource.URL,
        "by-hand": PluginSource.LOCAL,
        "bad-marker": PluginSource.LOCAL,
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_checkout_lists_its_commit_and_counts_as_url(env: Setup) -> None:
    folder = write_plugin(env.layout.plugins, "gitted")
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}  # fmt: skip
    for args in (
        ["init", "-q", "-b", "main"],
        ["remote", "add", "origin", "https://github.com/tests/gitted.git"],
        ["add", "."],
        ["commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", "-C", str(folder), *args], env=git_env, check=True)
    sha = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    plugin = env.inventory.get("gitted")
    assert plugin is not None and plugin.git is not None
    assert plugin.git.sha == sha and plugin.git.branch == "main"
    assert plugin.source is PluginSource.URL


def test_invalidate_forces_a_full_reread(env: Setup) -> None:
    write_plugin(env.layout.plugins, "alpha")
    age(env.layout.plugins)
    env.inventory.list()
    env.inventory.invalidate()
    env.inventory.list()
    assert env.inventory.manifest_reads == 2


def test_concurrent_lists_agree(env: Setup) -> None:
    for i in range(50):
        write_plugin(env.layout.plugins, f"p{i:02d}")
    age(env.layout.plugins)
    results: list[tuple[str, ...]] = []

    def worker() -> None:
        for _ in range(5):
            results.append(tuple(p.id for p in env.inventory.list()))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and len(set(results)) == 1
    assert env.inventory.manifest_reads == 50


def test_missing_plugins_folder_lists_builtins_only(tmp_path: Path) -> None:
    builtin = tmp_path / "builtin"
    write_plugin(builtin, "clock")
    inventory = PluginInventory(
        StateLayout(tmp_path / "absent"), builtin, config_blocks=dict, registry=lambda: None
    )
    assert [(p.id, p.source) for p in inventory.list()] == [("clock", PluginSource.BUILTIN)]


def test_memo_answers_hot_lists_without_disk_and_store_changes_invalidate(env: Setup) -> None:
    for i in range(20):
        write_plugin(env.layout.plugins, f"p{i:02d}")
    env.blocks = {f"p{i:02d}": {"enabled": True} for i in range(20)}
    env.inventory.recheck_seconds = 60.0
    age(env.layout.plugins, env.builtin)  # old, trustworthy folder timestamps
    first = env.inventory.list()
    assert env.inventory.list() is first  # memo hit: same tuple, nothing re-read
    env.blocks = {**env.blocks, "p00": {"enabled": False}}
    changed = env.inventory.list()
    assert changed is not first and not changed[0].enabled  # config change is seen at once
    (env.layout.plugins / "p01" / "manifest.json").write_text("{broken")
    assert env.inventory.list() is changed  # hand edit waits for recheck_seconds...
    env.inventory.invalidate()
    assert env.inventory.list()[1].error  # ...or for a store operation's invalidate()


def test_a_stale_registry_copy_still_lets_the_memo_answer(env: Setup) -> None:
    """At start-up (the registry loaded from disk) and while the network is down the held
    registry is stale, and each call hands out a new stale copy of it: a publish that
    asks for every plugin must not re-check every plugin folder each time."""
    for i in range(5):
        write_plugin(env.layout.plugins, f"p{i:02d}")
    age(env.layout.plugins, env.builtin)
    held = parse_registry({"plugins": [{"id": "p00", "name": "P", "latest_version": "2.0.0"}]})
    env.inventory = PluginInventory(
        env.layout,
        env.builtin,
        config_blocks=lambda: env.blocks,
        registry=lambda: replace(held, stale=True),  # what cached_registry() returns then
    )
    env.inventory.recheck_seconds = 60.0
    first = env.inventory.list()
    assert env.inventory.list() is first
    assert env.inventory.get("p00") is first[0] and first[0].update_available
