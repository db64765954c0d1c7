"""Crash safety: interrupt install, update and removal at every step, then recover.

Two kinds of crash: an in-process ``BaseException`` raised from the crash hook
(no ``except Exception`` cleanup runs, as after a kill), and a real SIGKILL of a
child process at the same points. After ``recover()`` on a fresh installer the
plugin is the old complete copy or the new complete one, and no staging,
rollback or journal debris is left. Also: read-only state dir and a full disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.store.records import UninstallRecords
from tests.integration.installer_env import Env, make_env
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_POINTS = ["downloaded", "extracted", "validated", "journal_written", "old_moved_aside",
                  "new_moved_in", "dependencies_done", "before_commit", "aside_discarded",
                  "aside_deleted"]  # fmt: skip
NEW_FROM = INSTALL_POINTS.index("new_moved_in")
REMOVE_POINTS = ["journal_written", "old_moved_aside", "before_commit", "aside_discarded",
                 "aside_deleted"]  # fmt: skip


class SimulatedCrash(BaseException):
    """Not an Exception: the installer's failure handling must not see it."""


def crash_at(point: str):  # type: ignore[no-untyped-def]
    def hook(name: str) -> None:
        if name == point:
            raise SimulatedCrash(point)

    return hook


@pytest.fixture
def env(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[Env]:
    yield make_env(tmp_path, fake_github)


def _expected(point: str, old: str | None, new: str) -> str | None:
    return new if INSTALL_POINTS.index(point) >= NEW_FROM else old


@pytest.mark.parametrize("point", INSTALL_POINTS)
def test_update_crash_then_recover(env: Env, point: str) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.installer().install_entry(env.entry("clock"))
    env.fake.add_repo("tests", "clock", plugin_files("clock", "2.0.0"))
    with pytest.raises(SimulatedCrash):
        env.installer(crash_hook=crash_at(point)).update_entry(
            "clock", env.entry("clock", latest_version="2.0.0")
        )
    env.installer().recover()
    assert env.version_on_disk("clock") == _expected(point, "1.0.0", "2.0.0")
    assert env.leftovers() == []
    assert (env.layout.plugins / "clock" / "manager.py").is_file()


@pytest.mark.parametrize("point", INSTALL_POINTS)
def test_fresh_install_crash_then_recover(env: Env, point: str) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    with pytest.raises(SimulatedCrash):
        env.installer(crash_hook=crash_at(point)).install_entry(env.entry("clock"))
    env.installer().recover()
    assert env.version_on_disk("clock") == _expected(point, None, "1.0.0")
    assert env.leftovers() == []
    if env.version_on_disk("clock") is None:
        assert list(env.layout.plugins.iterdir()) == []


@pytest.mark.parametrize("intent", [True, False], ids=["recorded", "not-recorded"])
@pytest.mark.parametrize("point", REMOVE_POINTS)
def test_removal_crash_then_recover(env: Env, point: str, intent: bool) -> None:
    """A recorded uninstall intent is finished after a crash; an unrecorded one is undone
    unless the delete had already begun (then it is finished: never a half folder)."""
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.installer().install_entry(env.entry("clock"))
    records = UninstallRecords(env.layout)
    if intent:
        records.record_uninstalled("clock")
    with pytest.raises(SimulatedCrash):
        env.installer(crash_hook=crash_at(point)).remove("clock").commit()
    env.installer(records=records).recover()
    deleting = REMOVE_POINTS.index(point) >= REMOVE_POINTS.index("aside_discarded")
    assert env.version_on_disk("clock") == (None if intent or deleting else "1.0.0")
    assert env.leftovers() == []


def test_corrupt_journal_and_stray_aside_are_settled(env: Env) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.installer().install_entry(env.entry("clock"))
    # A lost journal record: the aside exists, the target does not.
    os.rename(env.layout.plugins / "clock", env.layout.rollback / "clock.deadbeef")
    (env.layout.journal / "clock.json").write_text("{garbage")
    (env.layout.journal / "evil.json").write_text(
        json.dumps(
            {
                "plugin_id": "evil",
                "kind": "install",
                "target": "/etc",
                "aside": "/tmp/x",
                "staged": "/",
            }
        )
    )
    report = env.installer().recover()
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []
    assert any("restored" in line for line in report)


# -- a real SIGKILL in a child process ---------------------------------------------------------

CHILD = """
import os, signal, sys
from pathlib import Path
from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.models import RegistryEntry
from ledmatrix_mqtt.store.git import GitRunner
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.installer import Installer
from ledmatrix_mqtt.store.layout import StateLayout

state, base, point = sys.argv[1:4]
def hook(name):
    if name == point:
        os.kill(os.getpid(), signal.SIGKILL)
installer = Installer(StateLayout(Path(state)), HttpClient(frozenset({"127.0.0.1"})),
                      GithubUrls(base + "/web", base + "/api", base + "/raw"),
                      core_version="2.5.0", git=GitRunner(None), crash_hook=hook)
entry = RegistryEntry(id="clock", name="clock", repo=base + "/web/tests/clock", branch="main",
                      latest_version="2.0.0")
installer.update_entry("clock", entry)
"""


@pytest.mark.parametrize("point", INSTALL_POINTS)
def test_update_sigkill_then_recover(env: Env, point: str) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.installer().install_entry(env.entry("clock"))
    env.fake.add_repo("tests", "clock", plugin_files("clock", "2.0.0"))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(env.layout.root), env.fake.base, point],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr
    env.installer().recover()
    assert env.version_on_disk("clock") == _expected(point, "1.0.0", "2.0.0")
    assert env.leftovers() == []


# -- storage failures ------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable even for root (``chattr +i``), else by mode bits."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i unsupported here: {done.stderr!r}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=False)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.mark.parametrize("folder", ["plugins", "staging", "journal"])
def test_read_only_state_dir_is_storage_failed(env: Env, folder: str) -> None:
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.installer().install_entry(env.entry("clock"))
    env.fake.add_repo("tests", "clock", plugin_files("clock", "2.0.0"))
    with read_only(getattr(env.layout, folder)), pytest.raises(StorageFailed) as err:
        env.installer().install_entry(env.entry("clock"))
    assert err.value.code == "storage_failed"
    assert env.version_on_disk("clock") == "1.0.0"
    env.installer().recover()
    assert env.leftovers() == []


DISK_FULL_CHILD = """
import json, resource, signal, sys
from pathlib import Path
from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.models import RegistryEntry
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.store.git import GitRunner
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.installer import Installer
from ledmatrix_mqtt.store.layout import StateLayout

state, base = sys.argv[1:3]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
installer = Installer(StateLayout(Path(state)), HttpClient(frozenset({"127.0.0.1"})),
                      GithubUrls(base + "/web", base + "/api", base + "/raw"),
                      core_version="2.5.0", git=GitRunner(None))
entry = RegistryEntry(id="clock", name="clock", repo=base + "/web/tests/clock", branch="main")
try:
    installer.install_entry(entry)
    print(json.dumps({"code": "ok"}))
except LedMatrixError as exc:
    print(json.dumps(exc.to_dict()))
"""


def test_disk_full_is_storage_failed_and_old_copy_kept(env: Env) -> None:
    """A file-size limit (EFBIG) stands in for a full disk: same code path as ENOSPC."""
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    env.installer().install_entry(env.entry("clock"))
    big = {"data.bin": os.urandom(300_000)}
    env.fake.add_repo("tests", "clock", plugin_files("clock", "2.0.0", extra_files=big))
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(env.layout.root), env.fake.base],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.strip().splitlines()[-1])["code"] == "storage_failed"
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []


def test_failed_removal_commit_does_not_leave_the_plugin_locked(env: Env) -> None:
    """A removal whose commit failed (rollback folder unwritable) kept the plugin's lock for
    the life of the process: every later install of it answered ``busy`` until a restart.
    The leftover aside is settled by the next start-up recovery, as after a crash."""
    env.fake.add_repo("tests", "clock", plugin_files("clock", "1.0.0"))
    installer = env.installer()
    installer.install_entry(env.entry("clock"))
    ticket = installer.remove("clock")
    with read_only(env.layout.rollback), pytest.raises(StorageFailed):
        ticket.commit()
    assert installer.install_entry(env.entry("clock")).action == "installed"
    env.installer().recover()
    assert env.version_on_disk("clock") == "1.0.0"
    assert env.leftovers() == []
