"""The config file is parsed once per text: start-up's load and the editor's plugin blocks
share one parse, and an edit of the file is seen at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt import configfile
from ledmatrix_mqtt.config_editor import ConfigEditor

CONFIG = """\
device: {id: panel}
plugins:
  clock: {enabled: true, display_duration: 10}
"""


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = configfile.parse_yaml

    def counting(text: str, path: Path) -> Any:
        seen.append(path)
        return real(text, path)

    monkeypatch.setattr(configfile, "parse_yaml", counting)
    return seen


def test_start_up_load_and_plugin_blocks_share_one_parse_of_the_config(
    tmp_path: Path, parses: list[Path]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    config = configfile.load_config(path, must_exist=True)
    blocks = ConfigEditor(path).plugin_blocks()
    assert config.plugins["clock"]["display_duration"] == 10
    assert blocks["clock"] == {"enabled": True, "display_duration": 10}
    assert parses == [path]


def test_a_changed_config_is_parsed_again_and_callers_never_share_data(
    tmp_path: Path, parses: list[Path]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    first = configfile.read_yaml(path)
    first["plugins"]["clock"]["enabled"] = False  # a caller's change stays its own
    assert configfile.read_yaml(path)["plugins"]["clock"]["enabled"] is True
    path.write_text(CONFIG.replace("10", "20"))  # same size, maybe the same mtime tick
    assert configfile.read_yaml(path)["plugins"]["clock"]["display_duration"] == 20
    assert parses == [path, path]
