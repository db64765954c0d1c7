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
