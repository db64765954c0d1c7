"""``ledmatrix-mqtt plugins ...`` against the running service, as a user types it.

Without ``--offline`` every ``plugins`` command goes over MQTT to the service
(issue 4 "Service and CLI"); with ``--offline`` it acts on the state dir and
must refuse, naming the lock holder, while the service runs (issue 2 "Offline
CLI"). Most runs are the installed console script as a subprocess; a few call
``main()`` in-process to read its output cheaply. The display and automation
commands are in ``test_cli_display.py``; failing to reach the service, options and
usage in ``test_cli_reaching_the_service.py``.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from ledmatrix_mqtt.cli.main import main
from tests.e2e.conftest import (
    BUILTINS,
    CLI,
    ROOT,
    Appliance,
    PluginShelf,
    cli_env,
    cli_json,
    run_cli,
)
from tests.e2e.test_run_command import FIXTURES

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PLUGIN = "clock-simple"


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


def test_enable_and_disable_print_a_sentence(appliance: Appliance) -> None:
    config = str(appliance.config_path)
    off = run_cli("plugins", "disable", "status", "--config", config)
    assert (off.returncode, off.stdout) == (0, "status: disabled (out of the rotation)\n")
    on = run_cli("plugins", "enable", "status", "--config", config)
    assert (on.returncode, on.stdout) == (0, "status: enabled (in the rotation)\n")


def test_reconcile_dry_run_prints_the_plan(appliance: Appliance) -> None:
    shutil.copytree(FIXTURES / "lm-clock", appliance.state_dir / "plugins" / "lm-clock")
    result = run_cli("plugins", "reconcile", "--dry-run", "--config", str(appliance.config_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "1 inconsistency found; the plan (dry run, nothing changed):", lines
    assert lines[1].startswith("  lm-clock: missing_in_config; would add_config_block"), lines
    assert "lm-clock" not in appliance.config_path.read_text()  # nothing changed


def test_online_and_offline_list_agree_for_the_same_state(appliance: Appliance) -> None:
    """Same files, same config: the same ``list`` data, except ``loaded`` (offline nothing
    runs). A plugin whose block fails its schema shows the same error both ways."""
    config = str(appliance.config_path)
    text = appliance.config_path.read_text()
    block = "  clock:\n    enabled: true\n"
    assert block in text
    appliance.config_path.write_text(text.replace(block, block + "    format_24h: sometimes\n"))
    appliance.service.changed()  # what the store does after its own config edits
    online = run_cli("plugins", "list", "--json", "--config", config)
    appliance.service.stop()
    offline = run_cli("plugins", "list", "--json", "--offline", "--config", config)
    assert online.returncode == offline.returncode == 0, online.stderr + offline.stderr

    def comparable(result: subprocess.CompletedProcess[str]) -> list[dict]:
        return [{k: v for k, v in p.items() if k != "loaded"}
                for p in cli_json(result)["data"]["plugins"]]  # fmt: skip

    assert comparable(online) == comparable(offline)


def test_a_long_install_outlives_timeout_but_not_a_silent_idle_window(
    appliance: Appliance, published: PluginShelf
) -> None:
    """``--timeout`` bounds the start-up wait and short answers; a long operation waits
    while its progress moves, and gives up only after ``--idle-timeout`` of silence."""
    config = str(appliance.config_path)
    published.fake.add_fault(r"/archive/refs/heads/", "latency", 2.5, times=1)
    slow = run_cli("plugins", "install", PLUGIN, "--timeout", "1", "--config", config)
    assert slow.returncode == 0, slow.stderr
    assert slow.stdout.strip() == f"{PLUGIN}: installed 1.2.0"

    published.publish("clock-two", "1.0.0")
    published.fake.add_fault(r"/archive/refs/heads/", "latency", 4, times=1)
    silent = run_cli("plugins", "install", "clock-two", "--idle-timeout", "1.5", "--config", config)
    assert silent.returncode == 3, silent.stdout + silent.stderr
    assert "reported no progress on 'install' for 1.5 s" in silent.stderr
    assert "--idle-timeout" in silent.stderr


def test_search_says_when_it_shows_a_stale_cached_copy(
    appliance: Appliance, published: PluginShelf
) -> None:
    config = str(appliance.config_path)
    fresh = run_cli("plugins", "search", "--refresh", "--config", config)
    assert fresh.returncode == 0, fresh.stderr
    assert PLUGIN in fresh.stdout and "cached copy" not in fresh.stdout
    published.fake.add_fault(r"plugins\.json", "status", 503)
    stale = run_cli("plugins", "search", "--refresh", "--config", config)
    assert stale.returncode == 0, stale.stderr
    assert PLUGIN in stale.stdout
    assert "(the store could not be reached: this is the cached copy from " in stale.stdout
