"""``ledmatrix-mqtt run`` as a user starts it (issue 3 and 4 "done means").

The console script runs as a subprocess on a machine with no panel, no broker
and no network: ``mqtt.embedded: auto`` must start a private mosquitto, the
built-ins and a hand-placed LEDMatrix-style plugin must rotate and draw into
the headless snapshot, and SIGTERM must leave nothing behind.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import (
    CLI,
    PANEL_SIZE,
    ROOT,
    cli_env,
    decode_png,
    is_blank,
    run_cli,
    wait_json,
    write_config,
)
from tests.support import yamlio
from tests.support.mosquitto import MosquittoBroker, Probe, free_port
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "ledmatrix_style_plugins"
HAND_PLACED = "lm-clock"


@dataclass(frozen=True)
class Endpoint:
    """Where ``Probe`` connects: the service's own private broker."""

    port: int
    host: str = "127.0.0.1"
    socket_path: None = None
    tls_files: None = None


def unreachable_store(port: int) -> dict[str, object]:
    """Every store URL on a loopback port where nothing listens."""
    base = f"http://127.0.0.1:{port}"
    return {
        "registry_url": f"{base}/raw/ChuckBuilds/ledmatrix-plugins/main/plugins.json",
        "github": {
            "web_url": f"{base}/web",
            "api_url": f"{base}/api",
            "raw_url": f"{base}/raw",
            "archive_url": f"{base}/codeload",
        },
    }


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    log: Path
    state_dir: Path
    port: int
    config: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    port, closed = free_port(), free_port()
    # A plugin copied in by hand runs only once the user enables it in the config.
    config = write_config(tmp_path / "etc", port=port, store=unreachable_store(closed),
                          embedded="auto", plugins={HAND_PLACED: {"enabled": True}})  # fmt: skip
    state_dir = tmp_path / "etc" / "state"
    shutil.copytree(FIXTURES / HAND_PLACED, state_dir / "plugins" / HAND_PLACED)
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(CLI), "--config", str(config), "run"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=cli_env(),
        )
    try:
        yield Running(process, log, state_dir, port, config)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for child in _private_brokers(state_dir):
            child.kill()  # only ever a mosquitto started from this test's state dir


def _private_brokers(state_dir: Path) -> list[psutil.Process]:
    conf = str(state_dir / "mosquitto" / "mosquitto.conf")
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if conf in cmdline:
            found.append(proc)
    return found


def _private_broker_pid(run: Running) -> int:
    for line in run.log_text().splitlines():
        if "started a private mosquitto (pid " in line:
            return int(line.split("(pid ", 1)[1].split(",", 1)[0])
    raise AssertionError(f"no private mosquitto in the log:\n{run.log_text()}")


def test_run_starts_a_private_broker_rotates_offline_and_stops_cleanly(running: Running) -> None:
    assert wait_until(lambda: "started a private mosquitto" in running.log_text(), 10), (
        "the log line"
    )
    broker_pid = _private_broker_pid(running)
    assert psutil.Process(broker_pid).is_running()
    assert (running.state_dir / "mosquitto" / "mosquitto.conf").is_file()

    ha = Probe(Endpoint(running.port), "#")  # type: ignore[arg-type]
    try:
        ha.wait_for(lambda t, p, r: t == f"{ROOT}/availability" and p == b"online", 30)
        # The built-ins and the hand-placed LEDMatrix-style plugin all take their turn.
        seen: set[str] = set()

        def shown(data: dict) -> bool:
            seen.add(data["current_plugin"])
            return {"clock", "status", "text", HAND_PLACED} <= seen

        wait_json(ha, f"{ROOT}/state/display", shown, 30)
        snapshot = running.state_dir / "frames" / "current.png"
        assert wait_until(snapshot.is_file, 10), "the headless snapshot"
        image = decode_png(snapshot.read_bytes())
        assert image.size == PANEL_SIZE and not is_blank(image)

        # No network: a store refresh fails with its code, quickly, and the service goes on.
        ha.publish(f"{ROOT}/cmd/search", json.dumps({"refresh": True, "transaction": "s1"}))
        resp = wait_json(ha, f"{ROOT}/response/search", lambda d: d["transaction"] == "s1", 30)
        assert resp["status"] == "error", resp
        assert resp["error"]["code"] == "registry_unavailable"

        ha.clear()
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(20) == 0
        # Published on the way down, while the private broker was still up.
        assert b"offline" in ha.on(f"{ROOT}/availability")
    finally:
        ha.close()
    assert wait_until(lambda: not psutil.pid_exists(broker_pid), 10), (
        "the private mosquitto to exit"
    )
    log = running.log_text()
    assert "stopped the private mosquitto" in log
    assert "Traceback" not in log, log
    for plugin_id in ("clock", "status", "text", HAND_PLACED):  # cleanup() ran for each
        assert f"plugin {plugin_id} unloaded" in log, log
    # The schema checks the loads passed are kept, so the next start skips them.
    passed = json.loads((running.state_dir / "cache" / "passed-checks.json").read_text())
    assert len(passed["passed"]) >= 4, passed  # the clock's and lm-clock's schema and block


def test_run_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt:\n  port: x\n")
    result = run_cli("--config", str(config), "run", timeout=20)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(config) in lines[0] and "mqtt.port" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "state" / "service.lock").exists(), "it never started"


def test_sigterm_during_start_does_not_orphan_the_private_mosquitto(running: Running) -> None:
    """SIGTERM while the private broker is still being spawned.

    Regression: ``MqttFrontend.stop()`` looked at its broker before the start-up
    thread had stored it, so the service exited 0 and left mosquitto running
    (about half of the runs before the fix).
    """
    assert wait_until(lambda: "running as" in running.log_text(), 10), "the service to start"
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(20) == 0
    assert wait_until(lambda: not _private_brokers(running.state_dir), 10), (
        "no private mosquitto left"
    )
    assert "Traceback" not in running.log_text()
    # The state lock was released: an offline command can take it at once.
    result = run_cli("--config", str(running.config), "plugins", "list", "--offline", "--json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_broker_with_credentials_down_at_start_is_waited_for_not_squatted(
    tmp_path: Path,
) -> None:
    """Credentials configured, the real broker down at start-up: the service must not
    start an anonymous private mosquitto on its port. Before the fix it did, and the
    real broker could not start afterwards. Now the real one starts and the service
    connects to it."""
    real = MosquittoBroker(tmp_path / "real", users={"svc": "pw-1234"})
    config = write_config(tmp_path / "etc", port=real.port,
                          store=unreachable_store(free_port()), embedded="auto")  # fmt: skip
    doc = yamlio.read(config)
    doc["mqtt"].update({"username": "svc", "password": "pw-1234"})
    config.write_text(yamlio.dump(doc))
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        argv = [str(CLI), "run", "--config", str(config)]
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=cli_env())
    try:
        said = wait_until(lambda: "not starting a private mosquitto" in log.read_text(), 15)
        assert said, log.read_text()
        assert "credentials or TLS are configured" in log.read_text()
        real.start()  # the port is still free for the real broker
        probe = Probe(real, f"{ROOT}/availability", username="svc", password="pw-1234")
        try:
            probe.wait_for(lambda t, p, r: p == b"online", 60)
        finally:
            probe.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        real.stop()
    text = log.read_text(errors="replace")
    assert "started a private mosquitto" not in text
    assert "pw-1234" not in text
    assert not (tmp_path / "etc" / "state" / "mosquitto").exists()


def test_environment_problems_at_start_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A second instance's emulator port, a state dir that cannot be created: one line
    naming the problem, exit 1, and nothing left running."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        cases = {
            "state": ({"state_dir": str(blocker / "state")}, "Not a directory"),
            "emulator": ({"display": {"backend": "emulator", "emulator": {"port": port}}},
                         "in use"),
        }  # fmt: skip
        for name, (override, expected) in cases.items():
            config = write_config(tmp_path / name, port=free_port(),
                                  store=unreachable_store(free_port()))  # fmt: skip
            doc = yamlio.read(config)
            for key, value in override.items():
                doc[key] = {**doc[key], **value} if isinstance(value, dict) else value
            config.write_text(yamlio.dump(doc))
            result = run_cli("run", "--config", str(config), timeout=60)
            assert result.returncode == 1, (name, result.stderr)
            assert "Traceback" not in result.stderr, result.stderr
            last = result.stderr.strip().splitlines()[-1]
            assert last.startswith("ledmatrix-mqtt: ") and expected in last, (name, last)
    finally:
        taken.close()
