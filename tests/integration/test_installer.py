"""The installer end to end against the fake GitHub server (real HTTP, real files)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.core.models import PluginSource, Progress, Stage
from ledmatrix_mqtt.errors import (
    Busy,
    DependencyFailed,
    DownloadFailed,
    Forbidden,
    Incompatible,
    InvalidArchive,
    InvalidManifest,
    LedMatrixError,
    NotInstalled,
    PayloadTooLarge,
)
from ledmatrix_mqtt.store.deps import ensure_requirements
from ledmatrix_mqtt.store.records import UninstallRecords
from tests.integration.installer_env import Env, make_env
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files


@pytest.fixture
def env(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[Env]:
    yield make_env(tmp_path, fake_github)


def _publish(env: Env, plugin_id: str, version: str = "1.0.0", **kw: object) -> None:
    env.fake.add_repo("tests", plugin_id, plugin_files(plugin_id, version, **kw))  # type: ignore[arg-type]


def test_install_from_registry_entry(env: Env) -> None:
    _publish(env, "clock")
    events: list[Progress] = []
    result = env.installer().install_entry(env.entry("clock"), progress=events.append)
    assert (result.plugin_id, result.action, result.version) == ("clock", "installed", "1.0.0")
    assert result.source is PluginSource.REGISTRY
    assert result.dependencies.status == "none"
    assert (env.layout.plugins / "clock" / "manager.py").is_file()
    stages = [e.stage for e in events]
    for stage in (Stage.RESOLVING, Stage.DOWNLOADING, Stage.EXTRACTING, Stage.VALIDATING,
                  Stage.ACTIVATING, Stage.DEPENDENCIES, Stage.DONE):  # fmt: skip
        assert stage in stages
    assert any(e.stage is Stage.DOWNLOADING and e.percent == 100 for e in events)
    marker = json.loads((env.layout.plugins / "clock" / ".ledmatrix-source.json").read_text())
    assert marker == {"source": "registry", "url": env.fake.repo_url("tests", "clock"),
                      "registry_id": "clock"}  # fmt: skip
    assert env.leftovers() == []


def test_install_monorepo_plugin_path(env: Env) -> None:
    files = {f"plugins/weather/{k}": v for k, v in plugin_files("weather").items()}
    files |= {f"plugins/clock/{k}": v for k, v in plugin_files("clock").items()}
    env.fake.add_repo("tests", "mono", files)
    result = env.installer().install_entry(
        env.entry("weather", repo="mono", plugin_path="plugins/weather")
    )
    assert result.plugin_id == "weather"
    assert sorted(p.name for p in (env.layout.plugins / "weather").iterdir()) == [
        ".ledmatrix-source.json",
        "manager.py",
        "manifest.json",
    ]
    assert not (env.layout.plugins / "clock").exists()


def test_manifest_id_names_the_folder_weather_alias(env: Env) -> None:
    """Registry id ``weather`` holding manifest id ``ledmatrix-weather`` installs under the
    manifest id (upstream #439 / latent rename bug)."""
    env.fake.add_repo("tests", "weather", plugin_files("ledmatrix-weather"))
    result = env.installer().install_entry(env.entry("weather"))
    assert result.plugin_id == "ledmatrix-weather"
    assert env.version_on_disk("ledmatrix-weather") == "1.0.0"
    assert not (env.layout.plugins / "weather").exists()


def test_refused_install_keeps_renamed_plugin_regression_weather_431(env: Env) -> None:
    """Upstream #431 and the ``weather``/``ledmatrix-weather`` defect: a refused install
    deleted the installed copy before the compatibility gate. Ours never touches it."""
    env.fake.add_repo("tests", "weather", plugin_files("ledmatrix-weather"))
    installer = env.installer()
    installer.install_entry(env.entry("weather"))
    newer = plugin_files(
        "ledmatrix-weather", "2.0.0", manifest_extra={"compatible_versions": [">=9.0.0"]}
    )
    env.fake.add_repo("tests", "weather", newer)
    with pytest.raises(Incompatible):
        installer.install_entry(env.entry("weather"))
    assert env.version_on_disk("ledmatrix-weather") == "1.0.0"
    assert env.leftovers() == []


def test_invalid_manifest_refused_and_installed_copy_kept(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    env.fake.add_repo("tests", "clock", {"manifest.json": b'{"id": "../evil", "name": "x"}'})
    with pytest.raises(InvalidManifest):
        installer.install_entry(env.entry("clock"))
    assert env.version_on_disk("clock") == "1.0.0"


def test_update_when_newer(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    _publish(env, "clock", "1.1.0")
    result = installer.update_entry("clock", env.entry("clock", latest_version="1.1.0"))
    assert (result.action, result.version, result.previous_version) == ("updated", "1.1.0", "1.0.0")
    assert env.version_on_disk("clock") == "1.1.0"
    assert env.leftovers() == []


def test_up_to_date_without_download(env: Env) -> None:
    _publish(env, "clock", "1.1.0")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    before = len(env.fake.requests())
    for latest in ("1.1.0", "v1.1.0", "1.0.0", ""):
        result = installer.update_entry("clock", env.entry("clock", latest_version=latest))
        assert result.action == "up_to_date"
    assert len(env.fake.requests()) == before


def test_update_of_missing_plugin_is_not_installed(env: Env) -> None:
    with pytest.raises(NotInstalled):
        env.installer().update_entry("clock", env.entry("clock", latest_version="2.0.0"))


def test_update_that_renames_the_plugin_is_refused(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    env.fake.add_repo("tests", "clock", plugin_files("other-clock", "2.0.0"))
    with pytest.raises(InvalidManifest):
        installer.update_entry("clock", env.entry("clock", latest_version="2.0.0"))
    assert env.version_on_disk("clock") == "1.0.0"
    assert not (env.layout.plugins / "other-clock").exists()


@pytest.mark.parametrize("fault", [("reset", None), ("status", 503), ("status", 403)])
def test_update_with_network_failure_keeps_old_copy_regression_405(
    env: Env, fault: tuple[str, object]
) -> None:
    """Upstream c1fa5094 (#405): an update deleted the plugin before downloading its
    replacement; a Pi with broken DNS lost 12 plugins. The old copy must survive."""
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    env.fake.add_fault(r"^/(web|codeload)/", fault[0], fault[1])
    with pytest.raises(DownloadFailed):
        installer.update_entry("clock", env.entry("clock", latest_version="2.0.0"))
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []


def test_unreachable_host_keeps_old_copy(env: Env, tmp_path: Path) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    entry = env.entry("clock", latest_version="2.0.0")
    env.fake.stop()  # nothing listens any more: connection refused, like a dead network
    with pytest.raises(DownloadFailed):
        installer.update_entry("clock", entry)
    assert env.version_on_disk("clock") == "1.0.0"


def test_404_on_first_branches_falls_back_to_master(env: Env) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock"), branch="master")
    result = env.installer().install_entry(env.entry("clock", branch="develop"))
    assert result.action == "installed"
    tried = env.fake.requests(r"^/web/tests/clock/archive")
    assert [p.rsplit("/", 1)[1] for p in tried] == ["develop.zip", "main.zip", "master.zip"]


def test_transient_failure_does_not_loop_over_branches(env: Env) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock"), branch="master")
    env.fake.add_fault(r"^/codeload/", "status", 502)
    with pytest.raises(DownloadFailed) as err:
        env.installer().install_entry(env.entry("clock", branch="develop"))
    assert err.value.details.get("status") == 502
    # the same branch is retried with back-off (3 attempts); no other branch is tried
    tried = env.fake.requests(r"^/web/tests/clock/archive")
    assert tried == ["/web/tests/clock/archive/refs/heads/develop.zip"] * 3


def test_truncated_zip_keeps_old_copy(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    _publish(env, "clock", "2.0.0")
    env.fake.add_fault(r"^/codeload/", "truncate")
    with pytest.raises((DownloadFailed, InvalidArchive)):
        installer.install_entry(env.entry("clock"))
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []


def test_html_instead_of_zip_is_invalid_archive(env: Env) -> None:
    env.fake.extra_routes["/codeload/tests/clock/zip/refs/heads/main"] = (
        200, b"<html>rate limited</html>", "text/html")  # fmt: skip
    with pytest.raises(InvalidArchive):
        env.installer().install_entry(env.entry("clock"))
    assert env.leftovers() == []


def test_repo_outside_allow_list_is_forbidden(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    from ledmatrix_mqtt.core.models import RegistryEntry

    evil = RegistryEntry(id="clock", name="clock", repo="https://evil.example.com/tests/clock")
    with pytest.raises(Forbidden):
        installer.install_entry(evil)
    legacy = RegistryEntry(id="clock", name="clock", download_url="https://evil.example.com/c.zip")
    with pytest.raises(Forbidden):
        installer.install_entry(legacy)
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.fake.requests("evil") == []


def test_download_over_size_cap_refused(env: Env) -> None:
    """Stands in for the 1 GB download: the cap is made small instead of the body huge."""
    _publish(env, "clock", extra_files={"big.bin": os.urandom(200_000)})
    with pytest.raises(PayloadTooLarge):
        env.installer(max_archive_bytes=50_000).install_entry(env.entry("clock"))
    assert not (env.layout.plugins / "clock").exists()
    assert env.leftovers() == []


def test_concurrent_operation_on_same_id_is_busy(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    seen: list[LedMatrixError] = []

    def second_install(event: Progress) -> None:
        if event.stage is Stage.DOWNLOADING and not seen:
            for attempt in (
                lambda: installer.install_entry(env.entry("clock")),
                lambda: installer.update_entry("clock", env.entry("clock", latest_version="9")),
            ):
                try:
                    attempt()
                except LedMatrixError as exc:
                    seen.append(exc)

    installer.install_entry(env.entry("clock"), progress=second_install)
    assert [type(e) for e in seen] == [Busy, Busy]
    assert env.version_on_disk("clock") == "1.0.0"
    # The lock is released afterwards.
    assert installer.install_entry(env.entry("clock")).action == "reinstalled"


def test_dependency_failure_is_dependency_failed_and_nothing_is_installed(env: Env) -> None:
    """It was reported "installed; dependencies failed" (exit 0) and listed as enabled with
    no error; like pip, the install now fails with ``dependency_failed`` and rolls back."""
    _publish(env, "clock")
    env.installer().install_entry(env.entry("clock"))
    _publish(env, "clock", "2.0.0", requirements="definitely-not-installed-pkg-xyz==1.0\n")
    deps = functools.partial(ensure_requirements, pip_args=("--no-index",), timeout=60)
    with pytest.raises(DependencyFailed) as caught:
        env.installer(deps=deps).install_entry(env.entry("clock"))
    assert caught.value.code == "dependency_failed"
    assert "definitely-not-installed-pkg-xyz" in str(caught.value.details["pip"]).lower()
    assert "\n" not in caught.value.message
    assert env.version_on_disk("clock") == "1.0.0"  # the update rolled back
    _publish(env, "fresh", requirements="definitely-not-installed-pkg-xyz==1.0\n")
    with pytest.raises(DependencyFailed):
        env.installer(deps=deps).install_entry(env.entry("fresh"))
    assert env.version_on_disk("fresh") is None
    assert env.leftovers() == []


def test_failure_in_dependency_step_restores_old_copy(env: Env) -> None:
    _publish(env, "clock")
    env.installer().install_entry(env.entry("clock"))
    _publish(env, "clock", "2.0.0")

    def exploding(_path: Path) -> object:
        raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        env.installer(deps=exploding).install_entry(env.entry("clock"))
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []


def test_install_clears_uninstall_record(env: Env) -> None:
    _publish(env, "ledmatrix-weather")
    records = UninstallRecords(env.layout)
    records.record_uninstalled("ledmatrix-weather")
    records.record_uninstalled("weather")
    env.fake.add_repo("tests", "weather", plugin_files("ledmatrix-weather"))
    env.installer(records=records).install_entry(env.entry("weather"))
    assert records.uninstalled() == frozenset()


def test_remove_commit_and_rollback(env: Env) -> None:
    _publish(env, "clock")
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    ticket = installer.remove("clock")
    assert not (env.layout.plugins / "clock").exists()
    with pytest.raises(Busy):
        installer.install_entry(env.entry("clock"))
    ticket.rollback()
    ticket.rollback()  # idempotent
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []
    ticket = installer.remove("clock")
    ticket.commit()
    assert not (env.layout.plugins / "clock").exists()
    assert env.leftovers() == []
    with pytest.raises(NotInstalled):
        installer.remove("clock")


@pytest.mark.parametrize("bad", ["", "..", "../etc", "a/b"])
def test_ids_that_leave_the_plugins_folder_are_refused_by_the_installer(env: Env, bad: str) -> None:
    """The id rule is checked where an id comes in (see test_store_service); the
    installer still refuses any id whose folder would not be a child of ``plugins/``."""
    installer = env.installer()
    with pytest.raises(LedMatrixError) as err:
        installer.remove(bad)
    assert err.value.code == "invalid_plugin_id"
    with pytest.raises(LedMatrixError):
        installer.install_entry(env.entry("x").__class__(id=bad, name="x"))


def test_failure_after_swap_on_fresh_install_removes_the_new_copy(env: Env) -> None:
    """A fresh install that fails after the new copy moved in must not leave it installed:
    the caller got an error, so no plugin folder (and no config block) may appear."""
    _publish(env, "clock")

    def exploding(_path: Path) -> object:
        raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        env.installer(deps=exploding).install_entry(env.entry("clock"))
    assert env.version_on_disk("clock") is None
    assert list(env.layout.plugins.iterdir()) == []
    assert env.leftovers() == []
