"""``ledmatrix-mqtt config check`` names every bad key, including plugin settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledmatrix_mqtt.cli.main import main


def test_valid_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("state_dir: st\nplugins:\n  clock:\n    format_24h: false\n")
    assert main(["--config", str(path), "config", "check"]) == 0
    assert "OK" in capsys.readouterr().out


def test_plugin_setting_checked_against_its_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("state_dir: st\nplugins:\n  clock:\n    format_24h: sometimes\n")
    assert main(["--config", str(path), "config", "check"]) == 2
    out = capsys.readouterr().out
    assert f"{path}: plugins.clock.format_24h:" in out


def test_bad_core_key_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("display:\n  backend: lcd\n")
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "display.backend" in err and "Traceback" not in err


def test_config_check_lists_every_problem_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  id: true\n  timezone: Europe/Nowhere\nmqtt:\n  port: x\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    prefix = f"ledmatrix-mqtt: invalid configuration: {path}: "
    assert [line.removeprefix(prefix).split(":")[0] for line in lines] == [
        "device.id",
        "device.timezone",
        "mqtt.port",
    ], lines
    assert all(
        line.startswith(f"ledmatrix-mqtt: invalid configuration: {path}: ") for line in lines
    )


def test_config_check_refuses_a_duplicated_key_naming_it_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "state_dir: st\nplugins:\n  clock: {}\n  text: {}\n  clock:\n    enabled: false\n"
    )
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "duplicate key 'clock' (line 5, column 3); first at line 3" in err, err


def test_a_yaml_1_1_word_for_a_plugin_boolean_gets_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("state_dir: st\nplugins:\n  clock:\n    show_date: no\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    out = capsys.readouterr().out
    assert "plugins.clock.show_date: 'no' is not of type 'boolean'" in out
    assert "(write false: in this file only true/false are booleans)" in out
