"""Install from a URL (real git over smart HTTP, and the ZIP fallback) and git updates."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.core.models import InstallResult, PluginSource
from ledmatrix_mqtt.errors import Forbidden, IdConflict, InvalidManifest
from ledmatrix_mqtt.store.git import GitRunner, is_checkout
from ledmatrix_mqtt.store.installer import Installer
from ledmatrix_mqtt.store.records import UninstallRecords
from tests.integration.installer_env import Env, make_env
from tests.support.fake_github import FakeGitHub
from tests.support.git_http import GitHttpServer
from tests.support.plugin_factory import plugin_files

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def env(tmp_path: Path, fake_github: FakeGitHub) -> Env:
    return make_env(tmp_path, fake_github)


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path / "git-root").start()
    yield server
    server.stop()


def test_url_install_forbidden_by_policy(env: Env) -> None:
    with pytest.raises(Forbidden, match="allow_install_from_url"):
        env.installer().check_source_url(env.fake.repo_url("tests", "x"), allowed=False)
    assert env.fake.requests() == []


def test_url_install_outside_allow_list_forbidden(env: Env) -> None:
    installer = env.installer()
    for url in ("https://evil.example.com/a/b", "file:///etc", "ssh://127.0.0.1/a/b", "/etc"):
        with pytest.raises(Forbidden):
            installer.check_source_url(url, allowed=True)
    assert installer.check_source_url(env.fake.repo_url("tests", "x"), allowed=True)
    assert env.fake.requests() == [] and env.leftovers() == []


def test_url_install_zip_fallback_without_git(env: Env) -> None:
    env.fake.add_repo("tests", "clock-repo", plugin_files("clock"), branch="master")
    url = env.fake.repo_url("tests", "clock-repo") + ".git"
    result = env.installer().install_from_url(url)
    assert (result.plugin_id, result.source) == ("clock", PluginSource.URL)
    assert env.version_on_disk("clock") == "1.0.0"
    assert not is_checkout(env.layout.plugins / "clock")
    assert env.leftovers() == []


def test_url_install_monorepo_path_uses_zip(env: Env) -> None:
    files = {f"plugins/weather/{k}": v for k, v in plugin_files("ledmatrix-weather").items()}
    env.fake.add_repo("tests", "mono", files)
    result = env.installer(git=GitRunner.from_path()).install_from_url(
        env.fake.repo_url("tests", "mono"), plugin_path="plugins/weather"
    )
    assert result.plugin_id == "ledmatrix-weather"


def test_url_install_manifest_id_is_canonical(env: Env) -> None:
    """Upstream let a caller-supplied plugin_id override the manifest id; there is no such
    parameter here and the folder is always the manifest id (the repo name is irrelevant)."""
    env.fake.add_repo("tests", "some-repo", plugin_files("real-id"))
    result = env.installer().install_from_url(env.fake.repo_url("tests", "some-repo"))
    assert result.plugin_id == "real-id"
    assert (env.layout.plugins / "real-id").is_dir()
    assert not (env.layout.plugins / "some-repo").exists()


def test_url_name_with_dot_git_inside_regression_replace_git(env: Env) -> None:
    """Upstream ``url.replace('.git', '')`` corrupted ``x.github-plugins``; only a ``.git``
    suffix is removed."""
    env.fake.add_repo("tests", "x.github-plugins", plugin_files("clock"))
    result = env.installer().install_from_url(env.fake.repo_url("tests", "x.github-plugins"))
    assert result.plugin_id == "clock"
    assert env.fake.requests(r"/x\.github-plugins/archive/")


def test_url_install_clears_uninstall_record_regression(env: Env) -> None:
    """Upstream install_from_url never forgot the uninstall record, so the next start
    purged the reinstalled plugin."""
    records = UninstallRecords(env.layout)
    records.record_uninstalled("clock")
    env.fake.add_repo("tests", "clock", plugin_files("clock"))
    env.installer(records=records).install_from_url(env.fake.repo_url("tests", "clock"))
    assert not records.is_uninstalled("clock")


def _git_clock(env: Env, git_server: GitHttpServer) -> tuple[Installer, InstallResult]:
    """``clock`` 1.0.0 published on the git server and installed from its URL with git."""
    git_server.publish("tests", "clock", plugin_files("clock", "1.0.0"))
    installer = env.installer(git=GitRunner.from_path())
    return installer, installer.install_from_url(git_server.url("tests", "clock"))


@needs_git
def test_url_install_with_git_then_update(env: Env, git_server: GitHttpServer) -> None:
    installer, result = _git_clock(env, git_server)
    assert (result.plugin_id, result.version, result.source) == ("clock", "1.0.0", PluginSource.URL)
    folder = env.layout.plugins / "clock"
    assert is_checkout(folder)
    assert env.leftovers() == []

    assert installer.update_git_checkout("clock").action == "up_to_date"
    git_server.publish("tests", "clock", plugin_files("clock", "1.2.0"))
    updated = installer.update_git_checkout("clock")
    assert (updated.action, updated.version, updated.previous_version) == (
        "updated", "1.2.0", "1.0.0")  # fmt: skip
    assert env.version_on_disk("clock") == "1.2.0"
    assert env.leftovers() == []


def assert_update_refused_keeps_old_copy(
    env: Env, installer: Installer, error: type[Exception]
) -> None:
    """Updating the clock checkout raises ``error``; 1.0.0 stays, nothing is left over."""
    with pytest.raises(error):
        installer.update_git_checkout("clock")
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []


@needs_git
def test_git_update_that_breaks_the_manifest_keeps_old_copy(
    env: Env, git_server: GitHttpServer
) -> None:
    installer, _ = _git_clock(env, git_server)
    git_server.publish("tests", "clock", {"manifest.json": b"{broken"})
    assert_update_refused_keeps_old_copy(env, installer, InvalidManifest)


@needs_git
def test_git_update_with_remote_outside_allow_list_forbidden(
    env: Env, git_server: GitHttpServer
) -> None:
    installer, _ = _git_clock(env, git_server)
    GitRunner.from_path().run(["remote", "set-url", "origin", "https://evil.example.com/a/b"],
            cwd=env.layout.plugins / "clock")  # fmt: skip
    assert_update_refused_keeps_old_copy(env, installer, Forbidden)


def test_url_install_cannot_replace_a_plugin_from_another_source(env: Env) -> None:
    """A URL whose manifest id is a registry-installed plugin's id (or the same id from
    another repository) answers id_conflict and leaves the installed copy alone."""
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.fake.add_repo("evil", "clock-fork", plugin_files("clock", "6.6.6"))
    env.fake.add_repo("tests", "other", plugin_files("other", "1.0.0"))
    env.fake.add_repo("evil", "other-fork", plugin_files("other", "6.6.6"))
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    with pytest.raises(IdConflict):
        installer.install_from_url(env.fake.repo_url("evil", "clock-fork"))
    installer.install_from_url(env.fake.repo_url("tests", "other"))
    assert installer.install_from_url(env.fake.repo_url("tests", "other") + ".git").action == (
        "reinstalled"
    )  # the same repository may reinstall
    with pytest.raises(IdConflict):
        installer.install_from_url(env.fake.repo_url("evil", "other-fork"))
    assert (env.version_on_disk("clock"), env.version_on_disk("other")) == ("1.0.0", "1.0.0")
    assert env.leftovers() == []
