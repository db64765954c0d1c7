"""``ledmatrix-mqtt config check`` names every bad key, including plugin settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledmatrix_mqtt.cli.main import main


def check(tmp_path: Path, text: str, *, config_first: bool = False) -> int:
    """Write ``text`` as config.yaml and run ``config check`` on it, with ``--config`` before
    the command or after it (both spellings are supported); its exit code."""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    option = ["--config", str(path)]
    return main([*option, "config", "check"] if config_first else ["config", "check", *option])


def test_valid_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = check(
        tmp_path, "state_dir: st\nplugins:\n  clock:\n    format_24h: false\n", config_first=True
    )
    assert code == 0
    assert "OK" in capsys.readouterr().out


def test_plugin_setting_checked_against_its_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    code = check(
        tmp_path,
        "state_dir: st\nplugins:\n  clock:\n    format_24h: sometimes\n",
        config_first=True,
    )
    assert code == 2
    out = capsys.readouterr().out
    assert f"{path}: plugins.clock.format_24h:" in out


def test_bad_core_key_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = check(tmp_path, "display:\n  backend: lcd\n", config_first=True)
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "display.backend" in err and "Traceback" not in err


def test_config_check_lists_every_problem_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    code = check(tmp_path, "device:\n  id: true\n  timezone: Europe/Nowhere\nmqtt:\n  port: x\n")
    assert code == 2
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
    code = check(
        tmp_path, "state_dir: st\nplugins:\n  clock: {}\n  text: {}\n  clock:\n    enabled: false\n"
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "duplicate key 'clock' (line 5, column 3); first at line 3" in err, err


def test_a_yaml_1_1_word_for_a_plugin_boolean_gets_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = check(tmp_path, "state_dir: st\nplugins:\n  clock:\n    show_date: no\n")
    assert code == 2
    out = capsys.readouterr().out
    assert "plugins.clock.show_date: 'no' is not of type 'boolean'" in out
    assert "(write false: in this file only true/false are booleans)" in out
