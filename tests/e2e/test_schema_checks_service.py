"""The real service checks plugin settings in its schema worker, not in its own process.

A first start (nothing remembered) checks every plugin's schema and block: the
service process must still never load jsonschema, its checks must run in one
child that ends with the service, and a check that never ends (a backtracking
``pattern`` in a plugin's schema, fed a hostile value over MQTT) must be
answered with ``invalid_config`` at the deadline, with the control plane still
answering afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt import schema_worker
from tests.e2e.conftest import CLI, ROOT, cli_env, running_appliance, write_config
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker, Probe
from tests.support.plugin_factory import plugin_files, registry_entry
from tests.support.processes import schema_workers
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

BACKTRACKING = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^(a+)+$", "default": "aa"}},
}
HOSTILE = "a" * 40 + "!"


def start(config: Path, broker: MosquittoBroker) -> subprocess.Popen[bytes]:
    """The service as the unit runs it, once its clock plugin is loaded."""
    probe = Probe(broker, f"{ROOT}/state/plugins/clock")
    process = subprocess.Popen(
        [str(CLI), "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
    )
    try:
        probe.wait_for(lambda t, p, r: b'"loaded":true' in p and not r, 30)
    except BaseException:
        process.kill()
        process.wait(10)
        raise
    finally:
        probe.close()
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_first_start_checks_settings_in_a_child_and_never_loads_jsonschema(
    tmp_path: Path, broker: MosquittoBroker, fake_github: FakeGitHub
) -> None:
    config = write_config(tmp_path / "etc", port=broker.port, store=fake_github.store_config(),
                          plugins={"clock": {"enabled": True, "show_date": False}})  # fmt: skip
    remembered = tmp_path / "etc" / "state" / "cache" / "passed-checks.json"
    process = start(config, broker)  # loaded: its block passed its schema
    try:
        children = schema_workers(process.pid)
        assert len(children) == 1, "the checks did not run in one schema worker"
        mapped = Path(f"/proc/{process.pid}/maps").read_text()
        assert "rpds" not in mapped and "jsonschema" not in mapped  # jsonschema's Rust half
        assert wait_until(remembered.is_file, 10), "the passed checks were not kept"
    finally:
        stop(process)
    assert wait_until(lambda: not children[0].is_running(), 5), "the worker outlived it"
    process = start(config, broker)  # a restart: every check remembered, no worker needed
    try:
        assert schema_workers(process.pid) == []
    finally:
        stop(process)


def test_a_check_that_never_ends_is_answered_at_its_deadline_and_commands_go_on(
    tmp_path: Path,
    broker: MosquittoBroker,
    fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema_worker, "CHECK_DEADLINE_S", 1.5)
    fake_github.add_repo("tests", "slowpat", plugin_files("slowpat", schema=BACKTRACKING))
    fake_github.set_registry([registry_entry(fake_github, "slowpat")])
    config = write_config(tmp_path / "etc", port=broker.port, store=fake_github.store_config())
    with running_appliance(config, broker) as app:
        assert app.command("install", {"plugin_id": "slowpat"}, timeout=60)["status"] == "ok"
        started = time.monotonic()
        reply = app.command("configure", {"plugin_id": "slowpat", "settings": {"name": HOSTILE}})
        took = time.monotonic() - started
        assert reply["status"] == "error", reply
        assert reply["error"]["code"] == "invalid_config"
        assert "longer than 1.5 s" in reply["error"]["message"], reply
        assert took < 6.0, took
        good = app.command("configure", {"plugin_id": "slowpat", "settings": {"name": "aaa"}})
        assert good["status"] == "ok", good
        bad = app.command("configure", {"plugin_id": "slowpat", "settings": {"name": "b"}})
        assert "does not match" in bad["error"]["message"], bad
        assert "name: aaa" in app.config_path.read_text()
