"""SIGKILL the real Service at every crash point of install, update and uninstall.

For each (operation, point) a fresh state dir and config are prepared, a child
process (``tests/support/service_child.py``) runs the Service and the operation
and kills itself with SIGKILL at that point. Then a fresh Service starts on the
same state dir (``installer.recover()`` + the start-up reconcile) and we check:
no staging/rollback/journal entry or temp file left, ``config.yaml`` parses and
keeps every user key and comment, the plugin is the previous complete copy or
the new complete one (exactly the one the point implies), an interrupted
uninstall never comes back, and a second restart changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.store.wiring import build_store
from tests.reliability.conftest import ServiceEnv, leftovers, version_on_disk
from tests.support.service_child import CRASH_ENV

pytestmark = pytest.mark.broker
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ["downloaded", "extracted", "validated", "journal_written", "old_moved_aside",
             "new_moved_in", "dependencies_done", "before_commit", "aside_discarded",
             "aside_deleted"]  # fmt: skip
NEW_IN = INSTALLER.index("new_moved_in")
CONFIG_WRITE = ["config_before_replace", "config_after_replace"]
# (operation, point, version expected on disk after recovery and reconcile)
POINTS: dict[str, list[tuple[str, str | None]]] = {
    "install": [(p, None if i < NEW_IN else "1.0.0") for i, p in enumerate(INSTALLER)]
    + [(p, "1.0.0") for p in [*CONFIG_WRITE, "config_enabled"]],
    "update": [(p, "1.0.0" if i < NEW_IN else "2.0.0") for i, p in enumerate(INSTALLER)],
    "uninstall": [
        ("records_before_replace", "1.0.0"),  # the intent never reached the disk: undone
        ("uninstall_recorded", None),  # intent recorded, files untouched: the uninstall is finished
        ("journal_written", None),  # from here the recorded intent is finished
        ("old_moved_aside", None),
        *[(p, None) for p in CONFIG_WRITE],
        ("config_block_removed", None),
        ("before_commit", None),
        ("aside_discarded", None),
        ("aside_deleted", None),
    ],
}
PLUGIN = "weather"


@dataclass(frozen=True)
class Outcome:
    point: str
    problems: tuple[str, ...]


def _prepare(env: ServiceEnv, operation: str) -> None:
    env.fake.set_registry([])
    env.publish_plugin(PLUGIN, "1.0.0")
    env.write_config()
    if operation in ("update", "uninstall"):
        store = build_store(load_config(env.config_path))
        try:
            store.install(PLUGIN)
        finally:
            store.registry.close()
        env.publish_plugin(PLUGIN, "2.0.0" if operation == "update" else "1.0.0")


def _run_child(env: ServiceEnv, operation: str, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.support.service_child", str(env.config_path), operation,
         PLUGIN],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), CRASH_ENV: point},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _restart_and_check(env: ServiceEnv, expected: str | None) -> list[str]:
    problems: list[str] = []
    svc = env.start(online=False)
    if not svc.reconcile_done.wait(20):
        problems.append("start-up reconcile did not finish")
    version = version_on_disk(env.state_dir, PLUGIN)
    if version != expected:
        problems.append(f"version on disk {version!r}, expected {expected!r}")
    folder = env.state_dir / "plugins" / PLUGIN
    if version is not None and not (folder / "manager.py").is_file():
        problems.append("plugin folder is incomplete (no manager.py)")
    if version is None and folder.exists():
        problems.append(f"half plugin folder left: {sorted(p.name for p in folder.iterdir())}")
    text = env.config_path.read_text()
    config = load_config(env.config_path)
    if (
        "# written by a person" not in text
        or config.plugins["clock"].get("format_24h") is not False
    ):
        problems.append("config.yaml lost a user key or comment")
    assert svc.store is not None
    report = svc.store.last_reconcile()
    flagged = report is not None and any(i.plugin_id == PLUGIN for i in report.needs_attention)
    has_block = PLUGIN in config.plugins
    if version is not None and not has_block:
        problems.append("plugin on disk without a config block after the reconcile")
    if version is None and has_block and not flagged:
        problems.append("a leftover config block is neither repaired nor reported")
    listed = {p.id: p.version for p in svc.store.list_installed()}
    if listed.get(PLUGIN) != expected:
        problems.append(f"service lists {PLUGIN} as {listed.get(PLUGIN)!r}")
    env.stop_services()  # the live service writes frames atomically: look once it stopped
    debris = leftovers(env.state_dir) + [p.name for p in env.config_path.parent.glob(".*.tmp")]
    if debris:
        problems.append(f"leftovers: {debris}")
    return problems


@pytest.mark.parametrize("operation", list(POINTS))
def test_sigkill_at_every_point_then_restart_recovers(
    tmp_path: Path, env: ServiceEnv, operation: str
) -> None:
    outcomes: list[Outcome] = []
    for point, expected in POINTS[operation]:
        case = ServiceEnv(tmp_path / point, env.fake, env.broker)
        _prepare(case, operation)
        child = _run_child(case, operation, point)
        problems = [] if child.returncode == -9 else [
            f"not killed at the point (rc {child.returncode}): {child.stdout}{child.stderr[-800:]}"
        ]  # fmt: skip
        problems += _restart_and_check(case, expected)
        problems += [f"second restart: {p}" for p in _restart_and_check(case, expected)]
        outcomes.append(Outcome(point, tuple(problems)))
    failed = {o.point: o.problems for o in outcomes if o.problems}
    recovered = len(outcomes) - len(failed)
    print(f"\n{operation}: {len(outcomes)} crash points tried, {recovered} recovered")
    for point, problems in failed.items():
        print(f"  {point}: {'; '.join(problems)}")
    assert failed == {}


def test_child_without_crash_point_completes_the_operation(env: ServiceEnv) -> None:
    """The harness itself: with no crash point the child finishes and exits 0."""
    _prepare(env, "install")
    child = _run_child(env, "install", "")
    assert child.returncode == 0, child.stderr[-2000:]
    assert json.loads(child.stdout.strip().splitlines()[-1])["status"] == "ok"
    assert version_on_disk(env.state_dir, PLUGIN) == "1.0.0"
    assert load_config(env.config_path).plugins[PLUGIN]["enabled"] is True


def test_disk_full_update_answers_storage_failed_and_keeps_the_old_copy(
    tmp_path: Path, env: ServiceEnv
) -> None:
    """A real ENOSPC: the state dir is a small tmpfs filled to the last byte."""
    from tests.reliability.conftest import call
    from tests.support.filesystems import fill, tmpfs

    with tmpfs(env.state_dir, "2m"):
        env.publish_plugin(PLUGIN, "1.0.0")
        env.start()
        probe = env.probe("ledmatrix/testpanel/#")
        assert call(probe, "install", {"plugin_id": PLUGIN}, timeout=20)["status"] == "ok"
        env.publish_plugin(PLUGIN, "2.0.0", extra_files={"data.bin": os.urandom(200_000)})
        fill(env.state_dir)
        resp = call(probe, "update", {"plugin_id": PLUGIN}, timeout=20)
        assert resp["status"] == "error", resp
        assert resp["error"]["code"] in {"storage_failed", "download_failed"}, resp
        assert "space" in resp["error"]["message"].lower(), resp
        assert version_on_disk(env.state_dir, PLUGIN) == "1.0.0"
        svc = env.services[-1]
        assert svc.display is not None and PLUGIN in svc.display.rotation()
        assert leftovers(env.state_dir, temps=False) == []
        (env.state_dir / ".filler").unlink()
        env.stop_services()
        assert leftovers(env.state_dir) == []
