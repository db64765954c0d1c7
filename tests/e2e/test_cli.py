"""The ``ledmatrix-mqtt`` command against the running service, as a user types it.

Without ``--offline`` every ``plugins`` command goes over MQTT to the service
(issue 4 "Service and CLI"); with ``--offline`` it acts on the state dir and
must refuse, naming the lock holder, while the service runs (issue 2 "Offline
CLI"). Most runs are the installed console script as a subprocess; a few call
``main()`` in-process to read its output cheaply.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.cli.main import main
from tests.e2e.conftest import (
    CLI,
    PANEL_SIZE,
    ROOT,
    Appliance,
    PluginShelf,
    cli_env,
    decode_png,
    is_blank,
    run_cli,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PLUGIN = "clock-simple"
BUILTINS = ["clock", "status", "text"]


@pytest.fixture
def published(shelf: PluginShelf) -> PluginShelf:
    shelf.publish(PLUGIN, "1.2.0")
    return shelf


@pytest.fixture
def in_process() -> Iterator[None]:
    """``main()`` reconfigures the root logger; put pytest's logging back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def cli_json(result: subprocess.CompletedProcess[str]) -> dict:
    return dict(json.loads(result.stdout))


def retained_plugin_ids(app: Appliance) -> list[str]:
    state = json.loads(app.retained(f"{ROOT}/state/plugins")[f"{ROOT}/state/plugins"])
    return [p["id"] for p in state["plugins"]]


def test_plugins_list_json_as_a_subprocess(appliance: Appliance) -> None:
    result = run_cli("--config", str(appliance.config_path), "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    body = cli_json(result)
    assert body["status"] == "ok"
    plugins = body["data"]["plugins"]
    assert [p["id"] for p in plugins] == BUILTINS
    assert all(p["source"] == "built-in" and p["loaded"] for p in plugins), plugins
    assert "Traceback" not in result.stderr


def test_install_list_uninstall_go_through_the_service(
    appliance: Appliance, published: PluginShelf, in_process: None, capsys: pytest.CaptureFixture
) -> None:
    config = str(appliance.config_path)
    assert main(["--config", config, "plugins", "install", PLUGIN]) == 0
    assert capsys.readouterr().out.strip() == f"{PLUGIN}: installed 1.2.0"
    # The running service did it: its retained state and its display know the plugin.
    assert PLUGIN in retained_plugin_ids(appliance)
    assert appliance.service.display is not None
    assert PLUGIN in appliance.service.display.rotation()

    assert main(["--config", config, "plugins", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["ID", "VERSION", "LATEST"]
    row = next(line.split() for line in table if line.startswith(PLUGIN))
    assert row[:2] == [PLUGIN, "1.2.0"]

    assert main(["--config", config, "plugins", "uninstall", PLUGIN]) == 0
    assert capsys.readouterr().out.strip() == f"{PLUGIN}: uninstalled"
    assert PLUGIN not in retained_plugin_ids(appliance)
    assert not (appliance.state_dir / "plugins" / PLUGIN).exists()


def test_install_shows_a_progress_bar_on_a_terminal(
    appliance: Appliance, published: PluginShelf
) -> None:
    """stderr is a pty, as in an interactive shell: the bar follows ``state/operation``."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [str(CLI), "--config", str(appliance.config_path), "plugins", "install", PLUGIN],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            env=cli_env(),
            check=False,
        )
        os.close(follower)
        follower = -1
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the pty has no writer left
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, terminal
    assert proc.stdout.strip() == f"{PLUGIN}: installed 1.2.0"
    text = terminal.decode(errors="replace")
    assert "100% done" in text and "[" + "#" * 30 + "]" in text, text


def test_install_of_an_absent_plugin_fails_with_its_code(
    appliance: Appliance, published: PluginShelf
) -> None:
    config = str(appliance.config_path)
    result = run_cli("--config", config, "plugins", "install", "no-such-plugin")
    assert result.returncode != 0
    assert "not_found" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    result = run_cli("--config", config, "plugins", "install", "no-such-plugin", "--json")
    assert result.returncode != 0
    body = cli_json(result)
    assert body["status"] == "error" and body["error"]["code"] == "not_found"
    assert PLUGIN not in retained_plugin_ids(appliance)


def test_snapshot_saves_the_panel_as_png(appliance: Appliance, tmp_path: Path) -> None:
    target = tmp_path / "panel.png"
    result = run_cli("--config", str(appliance.config_path), "snapshot", str(target))
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    image = decode_png(target.read_bytes())
    assert image.size == PANEL_SIZE
    assert not is_blank(image)


def test_offline_refuses_while_the_service_runs_then_works_once_it_stopped(
    appliance: Appliance, published: PluginShelf
) -> None:
    config = str(appliance.config_path)
    result = run_cli("--config", config, "plugins", "install", PLUGIN, "--offline")
    assert result.returncode == 1
    message = result.stdout + result.stderr
    assert "busy" in message
    assert f"ledmatrix-mqtt service (pid {os.getpid()})" in message, message
    assert "Traceback" not in result.stderr
    assert not (appliance.state_dir / "plugins" / PLUGIN).exists()

    appliance.service.stop()
    result = run_cli("--config", config, "plugins", "install", PLUGIN, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{PLUGIN}: installed 1.2.0"
    result = run_cli("--config", config, "plugins", "list", "--offline", "--json")
    assert result.returncode == 0, result.stderr
    listed = {p["id"]: p["version"] for p in cli_json(result)["data"]["plugins"]}
    assert listed == {"clock": "1.0.0", "status": "1.0.0", "text": "1.0.0", PLUGIN: "1.2.0"}


def test_online_command_without_a_service_says_so(appliance: Appliance) -> None:
    """The broker is up but nobody answers: a clear error, not a hang or a traceback."""
    appliance.service.stop()
    result = run_cli("--config", str(appliance.config_path), "plugins", "list", "--timeout", "1.5")
    assert result.returncode == 1
    assert "service_unreachable" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
