"""Reaching the service from ``ledmatrix-mqtt``: what a user sees when it cannot.

A stopped service, a wrong device id, a broker that is down or a missing config
file each fail at once with one line saying what to check; global options work
in any position; every option is described and every MQTT command has a command.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.cli.main import build_parser
from ledmatrix_mqtt.mqtt.commands import COMMANDS
from ledmatrix_mqtt.mqtt.remote import DEFAULT_WAIT
from tests.e2e.conftest import BUILTINS, DEVICE_ID, Appliance, cli_json, run_cli
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]


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
