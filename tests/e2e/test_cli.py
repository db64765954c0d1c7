"""The ``ledmatrix-mqtt`` command against the running service, as a user types it.

Without ``--offline`` every ``plugins`` command goes over MQTT to the service
(issue 4 "Service and CLI"); with ``--offline`` it acts on the state dir and
must refuse, naming the lock holder, while the service runs (issue 2 "Offline
CLI"). Most runs are the installed console script as a subprocess; a few call
``main()`` in-process to read its output cheaply.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pty
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ledmatrix_mqtt.cli.main import build_parser, main
from ledmatrix_mqtt.mqtt.commands import COMMANDS
from ledmatrix_mqtt.mqtt.remote import DEFAULT_WAIT
from tests.e2e.conftest import (
    CLI,
    DEVICE_ID,
    PANEL_SIZE,
    ROOT,
    Appliance,
    PluginShelf,
    cli_env,
    decode_png,
    is_blank,
    run_cli,
    wait_json,
)
from tests.e2e.test_run_command import FIXTURES
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until

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
    frame_topic = f"{ROOT}/display/frame"

    def panel_drawn() -> bool:  # plugins load once the service is online, then draw
        frame = appliance.retained(frame_topic).get(frame_topic)
        return bool(frame) and not is_blank(decode_png(frame))

    assert wait_until(panel_drawn, 15)
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


def test_stopped_service_fails_in_seconds_saying_what_to_check(appliance: Appliance) -> None:
    """The broker is up but the service is stopped: before, ``plugins list`` waited 600 s in
    silence. Now it fails after the documented default wait with one line and exit 3."""
    appliance.service.stop()
    started = time.monotonic()
    result = run_cli("--config", str(appliance.config_path), "plugins", "list")
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert elapsed < DEFAULT_WAIT + 5, elapsed
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for hint in ("service_unreachable", DEVICE_ID, "running", "device.id", "mqtt.host"):
        assert hint in lines[0], lines[0]
    assert result.stdout == ""


def test_wrong_device_id_names_the_devices_that_are_online(
    appliance: Appliance, tmp_path: Path
) -> None:
    text = appliance.config_path.read_text().replace(f"id: {DEVICE_ID}", "id: kitchen")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text)
    result = run_cli("plugins", "list", "--config", str(wrong), "--timeout", "2")
    assert result.returncode == 3
    assert "'kitchen' is not online" in result.stderr
    assert f"devices online on this broker: {DEVICE_ID}" in result.stderr


def test_broker_down_fails_at_once_naming_the_broker(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: st\nmqtt:\n  port: {port}\n  embedded: false\n")
    result = run_cli("plugins", "list", "--config", str(config))
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"MQTT broker at 127.0.0.1:{port}: connection refused" in result.stderr


def test_global_options_work_before_or_after_the_subcommand(appliance: Appliance) -> None:
    config = str(appliance.config_path)
    forms = [
        ["--config", config, "--json", "plugins", "list"],
        ["plugins", "list", "--config", config, "--json"],
        ["plugins", "--json", "list", "--config", config],
    ]
    for argv in forms:
        result = run_cli(*argv)
        assert result.returncode == 0, (argv, result.stderr)
        assert [p["id"] for p in cli_json(result)["data"]["plugins"]] == BUILTINS


def test_missing_config_file_is_refused_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "config.yaml"
    for argv in (["run"], ["config", "check"], ["plugins", "list", "--offline"]):
        result = run_cli(*argv, "--config", str(missing))
        assert result.returncode == 2, result
        assert result.stderr.strip().splitlines() == [
            f"ledmatrix-mqtt: invalid configuration: {missing}: file not found "
            "(copy config/config.example.yaml there to start)"
        ]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "state").exists()


def test_every_display_command_prints_the_panel_and_json_is_the_mqtt_response(
    appliance: Appliance,
) -> None:
    config = str(appliance.config_path)
    human = {
        ("brightness", "40"): "panel: on, brightness 40%, showing ",
        ("text", "Dinner is ready"): "text set to 'Dinner is ready'; panel: on, brightness 40%",
        ("show", "clock", "--duration", "30"): "showing clock (pinned; 'next' resumes",
        ("next",): "panel: on, brightness 40%",
        ("power", "off"): "panel: off (brightness 40%)",
        ("power", "on"): "panel: on",
    }
    for argv, expected in human.items():
        result = run_cli(*argv, "--config", config)
        assert result.returncode == 0, (argv, result.stderr)
        assert expected in result.stdout, (argv, result.stdout)
        assert result.stdout.count("\n") == 1
    assert appliance.service.display is not None
    assert appliance.service.display.state().brightness == 40
    # --json prints exactly the envelope the service published for this request.
    result = run_cli("brightness", "55", "--json", "--config", config)
    body = cli_json(result)
    assert body["status"] == "ok" and body["data"]["brightness"] == 55
    published = wait_json(appliance.ha, f"{ROOT}/response/brightness",
                          lambda d: d.get("transaction") == body["transaction"])  # fmt: skip
    assert published == body


def test_automation_commands_print_a_line_and_json_is_the_mqtt_response(
    appliance: Appliance,
) -> None:
    config = str(appliance.config_path)
    human = {
        ("notify", "Washer done", "--color", "#00ff00", "--hold", "--id", "wash"): (
            "showing 'Washer done' (id wash); 0 queued"
        ),
        ("notify", "Door", "--priority", "5", "--hold", "--id", "door"): (
            "showing 'Door' (id door); 1 queued"
        ),
        ("dismiss", "door"): "showing 'Washer done' (id wash); 0 queued",
        ("dismiss",): "no notification showing; the rotation runs",
        ("schedule", "--off", "--start", "06:30", "--end", "22:00"): (
            "schedule off 06:30-22:00; dim schedule off 22:00-07:00 at 30%; now inside active hours"
        ),
        ("configure", "clock", "show_date=false", "color=[0,255,0]"): '"show_date": false',
        ("rotation", "status", "clock"): "rotation: status, clock",
    }
    for argv, expected in human.items():
        result = run_cli(*argv, "--config", config)
        assert result.returncode == 0, (argv, result.stderr)
        assert expected in result.stdout, (argv, result.stdout)
        assert result.stdout.count("\n") == 1
    doc = yaml.safe_load(appliance.config_path.read_text())
    assert doc["schedule"] == {"enabled": False, "start_time": "06:30", "end_time": "22:00"}
    assert doc["plugins"]["clock"]["color"] == [0, 255, 0]
    result = run_cli("notify", "Hi", "--duration", "2", "--json", "--config", config)
    body = cli_json(result)
    assert body["status"] == "ok" and body["data"]["current"]["text"] == "Hi"
    published = wait_json(appliance.ha, f"{ROOT}/response/notify",
                          lambda d: d.get("transaction") == body["transaction"])  # fmt: skip
    assert published == body
    bad = run_cli("schedule", "--dim-brightness", "101", "--config", config)
    assert bad.returncode == 1 and bad.stderr.startswith(
        "ledmatrix-mqtt: invalid_config: dim_schedule.dim_brightness: "
    ), bad.stderr
    nothing = run_cli("schedule", "--config", config)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr


def test_display_command_errors_keep_their_code(appliance: Appliance) -> None:
    result = run_cli("show", "no-such-plugin", "--config", str(appliance.config_path))
    assert result.returncode == 1
    assert result.stderr.startswith("ledmatrix-mqtt: not_installed:") or \
        result.stderr.startswith("ledmatrix-mqtt: not_found:"), result.stderr  # fmt: skip
    bad = run_cli("brightness", "101", "--config", str(appliance.config_path))
    assert bad.returncode == 2 and "must be from 0 to 100" in bad.stderr


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


def test_snapshot_to_a_bad_path_is_one_line(appliance: Appliance, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "panel.png"
    result = run_cli("snapshot", str(target), "--config", str(appliance.config_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"ledmatrix-mqtt: cannot write {target}: folder {target.parent} does not exist"
    ]
    assert not target.parent.exists()


def test_every_option_has_a_description_and_shows_its_default() -> None:
    parser = build_parser()
    seen = 0

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        nonlocal seen
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
                continue
            assert action.help, f"{path}: {action.option_strings or action.dest} has no help"
            seen += 1
        help_text = p.format_help()
        assert "--timeout SECONDS" in help_text and f"(default: {DEFAULT_WAIT:g})" in help_text

    walk(parser, "ledmatrix-mqtt")
    assert seen > 60


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


# Home Assistant's "Store plugin" select and its Install button; on the command
# line `plugins install ID` does both in one step.
HA_ONLY_COMMANDS = {"store_select", "store_install"}


def test_every_mqtt_command_has_a_cli_command() -> None:
    parser = build_parser()
    (top,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    (plugins,) = [
        a for a in top.choices["plugins"]._actions if isinstance(a, argparse._SubParsersAction)
    ]
    covered = set(top.choices) | set(plugins.choices)
    assert set(COMMANDS) - HA_ONLY_COMMANDS <= covered, set(COMMANDS) - covered


def test_a_missing_plugin_id_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("state_dir: st\nmqtt:\n  embedded: false\n")
    for argv, hint in ((["install"], "(or --url URL)"), (["update"], "(or --all)")):
        result = run_cli("plugins", *argv, "--config", str(config))
        assert result.returncode == 2
        assert result.stderr.strip().endswith(f"a plugin id is required {hint}"), result.stderr


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
