"""The shipped systemd unit and ``scripts/run`` start the service as written.

The unit's own ``ExecStart`` line is run (install paths swapped for this venv and
a test config), the service must come online on a real mosquitto, and the unit's
``KillSignal`` must stop it with exit status 0. ``systemd-analyze verify`` checks
the unit's syntax where systemd's tools exist.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import CLI, ROOT, cli_env, write_config
from tests.e2e.test_run_command import unreachable_store
from tests.support.mosquitto import MosquittoBroker, Probe, free_port
from tests.support.systemd_unit import UNIT, environment, unit_settings

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
INSTALL_DIR = "/opt/ledmatrix-mqtt"  # where the README's install steps clone the project


def localised(value: str, config: Path) -> str:
    """A unit value with the install paths replaced by this checkout's venv and ``config``."""
    out = value.replace(f"{INSTALL_DIR}/.venv/bin/", f"{CLI.parent}/")
    out = out.replace(f"{INSTALL_DIR}/config/config.yaml", str(config))
    out = out.replace(INSTALL_DIR, str(config.parent))
    assert INSTALL_DIR not in out, out
    return out


def test_unit_exec_start_runs_the_service_and_kill_signal_stops_it(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    settings = unit_settings(UNIT.read_text())
    (exec_start,) = settings["ExecStart"]
    config = write_config(tmp_path / "etc", port=broker.port, store=unreachable_store(free_port()))
    argv = shlex.split(localised(exec_start, config))
    assert argv[0] == str(CLI), argv
    env = {**cli_env(), **environment(settings)}
    log = tmp_path / "journal.log"
    probe = Probe(broker, f"{ROOT}/availability")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=localised(settings["WorkingDirectory"][0], config),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        probe.wait_for(lambda t, p, r: p == b"online", 30)
        kill_signal = getattr(signal, settings.get("KillSignal", ["SIGTERM"])[0])
        process.send_signal(kill_signal)
        stop_timeout = float(settings.get("TimeoutStopSec", ["90"])[0])
        assert process.wait(stop_timeout) == 0, log.read_text(errors="replace")
        probe.wait_for(lambda t, p, r: p == b"offline", 5)
    finally:
        probe.close()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert "Traceback" not in log.read_text(errors="replace")


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    config = tmp_path / "config.yaml"
    unit = tmp_path / UNIT.name  # verify checks that ExecStart exists: point it at this venv
    unit.write_text(localised(UNIT.read_text(), config))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    own = [line for line in result.stderr.splitlines() if unit.name in line]
    assert result.returncode == 0 and not own, result.stderr


def test_scripts_run_accepts_a_config_option(tmp_path: Path) -> None:
    """``scripts/run --config FILE`` starts the service on FILE (and never creates the
    default config/config.yaml for it)."""
    port = free_port()
    config = write_config(tmp_path / "etc", port=port, store=unreachable_store(free_port()))
    broker = MosquittoBroker(tmp_path / "broker")
    broker.port = port
    broker.start()
    probe = Probe(broker, f"{ROOT}/availability")
    env = {**cli_env(), "LEDMATRIX_VENV": sys.prefix}
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "run"), "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        probe.wait_for(lambda t, p, r: p == b"online", 60)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text(errors="replace")
    finally:
        probe.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        broker.stop()
    assert "created config/config.yaml" not in log.read_text(errors="replace")
