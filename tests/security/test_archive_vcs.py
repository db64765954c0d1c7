"""Nothing from a downloaded archive runs outside the plugin runtime.

A ``.git/config`` inside a plugin archive named a ``core.fsmonitor`` command that
ran on ``update`` (even for a disabled plugin). Archives never bring VCS metadata
in, and git itself runs with ``core.fsmonitor`` (and hooks) switched off.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.store.git import GitRunner
from ledmatrix_mqtt.store.service import PluginStore
from ledmatrix_mqtt.store.wiring import build_store
from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files, registry_entry


def _hostile_git_files(marker: Path) -> dict[str, bytes]:
    config = f"[core]\n\trepositoryformatversion = 0\n\tfsmonitor = touch {marker}\n"
    return {
        ".git/HEAD": b"ref: refs/heads/main\n",
        ".git/config": config.encode(),
        ".git/hooks/post-merge": f"#!/bin/sh\ntouch {marker}\n".encode(),
        "sub/.git/config": config.encode(),
        ".svn/entries": b"12\n",
    }


@pytest.fixture
def store(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[PluginStore]:
    doc = {"state_dir": "state", "store": fake_github.store_config(), "plugins": {}}
    (tmp_path / "config.yaml").write_text(yamlio.dump(doc))
    built = build_store(load_config(tmp_path / "config.yaml"), builtin_dir=None)
    yield built
    built.operations.stop()
    built.registry.close()


def test_git_folder_in_a_downloaded_archive_is_never_installed_or_run(
    store: PluginStore, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    marker = tmp_path / "fsmonitor-ran"
    files = {**plugin_files("hostile", "1.0.0"), **_hostile_git_files(marker)}
    fake_github.add_repo("tests", "hostile", files)
    fake_github.set_registry([registry_entry(fake_github, "hostile")])
    store.install("hostile")
    folder = tmp_path / "state" / "plugins" / "hostile"
    assert (folder / "manager.py").is_file()
    assert not (folder / ".git").exists() and not (folder / "sub" / ".git").exists()
    assert not (folder / ".svn").exists()
    store.set_enabled("hostile", False)
    fake_github.add_repo("tests", "hostile", {**plugin_files("hostile", "1.1.0"), **files})
    fake_github.set_registry([registry_entry(fake_github, "hostile", latest_version="1.1.0")])
    store.update("hostile")
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_runs_with_fsmonitor_and_hooks_switched_off(tmp_path: Path) -> None:
    """A checkout whose own .git/config names an fsmonitor command: our git calls never run it
    (the control run shows that plain git would)."""
    repo = tmp_path / "checkout"
    marker = tmp_path / "fsmonitor-ran"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    (repo / "a.txt").write_text("a")
    subprocess.run(["git", "-C", str(repo), "add", "a.txt"], check=True, env=env)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
         "commit", "-qm", "a"], check=True, env=env,
    )  # fmt: skip
    with (repo / ".git" / "config").open("a") as handle:
        handle.write(f"[core]\n\tfsmonitor = touch {marker}\n")
    GitRunner.from_path().run(["status", "--porcelain"], cwd=repo)
    GitRunner.from_path().head(repo)
    assert not marker.exists()
    subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], env=env, check=False,
                   capture_output=True)  # fmt: skip
    assert marker.exists()  # control: plain git would have run it
