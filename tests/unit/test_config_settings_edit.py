"""ConfigEditor writes for `configure` and `rotation`: comments kept, atomic, nothing on error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.config_editor import ConfigEditor
from ledmatrix_mqtt.core.plugin_settings import merge_patch
from ledmatrix_mqtt.errors import ConfigError, StorageFailed
from tests.support import yamlio
from tests.support.filesystems import fill, tmpfs

USER_CONFIG = """\
# my panel (this comment must survive)
device:
  name: Kitchen  # the name HA shows
display:
  backend: headless
  brightness: 40  # night-friendly
plugins:
  clock:
    enabled: true
    # 24 h clock, please
    format_24h: true
    color: [255, 160, 40]  # amber
  weather:
    enabled: false
"""


def patch_with(changes: dict[str, Any]) -> Any:
    return lambda block: merge_patch(block, changes)


def write(tmp_path: Path, text: str = USER_CONFIG) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_update_block_changes_only_the_given_keys_and_keeps_comments(tmp_path: Path) -> None:
    path = write(tmp_path)
    new = ConfigEditor(path).update_block(
        "clock", patch_with({"color": [0, 255, 0], "show_date": False})
    )
    assert new == {"enabled": True, "format_24h": True, "color": [0, 255, 0], "show_date": False}
    text = path.read_text()
    for comment in ("# my panel", "# the name HA shows", "# night-friendly", "# 24 h clock"):
        assert comment in text
    assert "color: [0, 255, 0]" in text  # a colour stays one readable line
    doc = yamlio.load(text)
    assert doc["plugins"]["clock"] == new
    assert doc["plugins"]["weather"] == {"enabled": False}
    assert doc["display"] == {"backend": "headless", "brightness": 40}
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temp file left


def test_null_removes_a_key_and_its_comment_lines_stay_with_the_others(tmp_path: Path) -> None:
    path = write(tmp_path)
    ConfigEditor(path).update_block("clock", patch_with({"color": None}))
    assert yamlio.read(path)["plugins"]["clock"] == {
        "enabled": True,
        "format_24h": True,
    }
    assert "# my panel" in path.read_text()


def test_a_block_is_created_for_a_plugin_without_one(tmp_path: Path) -> None:
    path = write(tmp_path, "# only a comment\nplugins:\n  clock:\n")
    ConfigEditor(path).update_block("text", patch_with({"default_text": "hi"}))
    ConfigEditor(path).update_block("clock", patch_with({"show_date": False}))
    doc = yamlio.read(path)
    assert doc["plugins"] == {"clock": {"show_date": False}, "text": {"default_text": "hi"}}
    assert path.read_text().startswith("# only a comment")


def test_a_refused_change_leaves_the_file_byte_for_byte(tmp_path: Path) -> None:
    path = write(tmp_path)
    before = path.read_bytes()
    stat = path.stat()

    def refuse(block: dict[str, Any]) -> dict[str, Any]:
        raise ConfigError("must be a number", key="plugins.clock.x")

    with pytest.raises(ConfigError):
        ConfigEditor(path).update_block("clock", refuse)
    assert path.read_bytes() == before
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_an_unchanged_block_is_not_rewritten(tmp_path: Path) -> None:
    path = write(tmp_path)
    inode = path.stat().st_ino
    ConfigEditor(path).update_block("clock", patch_with({"format_24h": True}))
    assert path.stat().st_ino == inode  # an edit replaces the file (new inode); none happened


def test_concurrent_updates_of_one_block_lose_nothing(tmp_path: Path) -> None:
    """Read-check-write runs under the editor's lock: two callers cannot overwrite each other."""
    path = write(tmp_path)
    editor = ConfigEditor(path)
    keys = [f"k{i}" for i in range(8)]
    threads = [
        threading.Thread(target=editor.update_block, args=("weather", patch_with({k: i})))
        for i, k in enumerate(keys)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    block = yamlio.read(path)["plugins"]["weather"]
    assert block == {"enabled": False, **{k: i for i, k in enumerate(keys)}}


def test_disk_full_keeps_the_original(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "64k") as fs:
        path = write(fs)
        fill(fs)
        with pytest.raises(StorageFailed):
            ConfigEditor(path).update_block("clock", patch_with({"note": "x" * 2000}))
        assert path.read_text() == USER_CONFIG
        assert sorted(p.name for p in fs.iterdir()) == [".filler", "config.yaml"]


def test_rotation_order_is_written_inline_and_removed_when_empty(tmp_path: Path) -> None:
    path = write(tmp_path)
    editor = ConfigEditor(path)
    assert editor.set_rotation_order(["weather", "clock"]) is True
    assert editor.set_rotation_order(["weather", "clock"]) is False
    text = path.read_text()
    assert "rotation_order: [weather, clock]" in text
    assert "# night-friendly" in text
    assert yamlio.load(text)["display"]["brightness"] == 40
    assert editor.set_rotation_order([]) is True
    assert "rotation_order" not in yamlio.read(path)["display"]


def test_rotation_order_creates_the_display_section(tmp_path: Path) -> None:
    path = write(tmp_path, "plugins: {}\n")
    ConfigEditor(path).set_rotation_order(["clock"])
    assert yamlio.read(path)["display"] == {"rotation_order": ["clock"]}


def test_secrets_block_reads_the_plugin_part_of_secrets_yaml(tmp_path: Path) -> None:
    path = write(tmp_path)
    (tmp_path / "secrets.yaml").write_text("plugins:\n  weather:\n    api_key: abc\n")
    editor = ConfigEditor(path)
    assert editor.secrets_block("weather") == {"api_key": "abc"}
    assert editor.secrets_block("clock") == {}


SCHEDULED = (
    USER_CONFIG
    + """\
schedule:  # quiet nights
  enabled: true
  start_time: "07:00"  # breakfast
  end_time: "23:00"
"""
)


def schedules_with(schedule: dict[str, Any], dim: dict[str, Any]) -> Any:
    return lambda old: (merge_patch(old[0], schedule), merge_patch(old[1], dim))


def test_schedule_edit_keeps_comments_and_adds_the_dim_block(tmp_path: Path) -> None:
    path = write(tmp_path, SCHEDULED)
    written = ConfigEditor(path).update_schedules(
        schedules_with({"end_time": "22:30"}, {"enabled": True, "dim_brightness": 20})
    )
    text = path.read_text()
    assert written == (
        {"enabled": True, "start_time": "07:00", "end_time": "22:30"},
        {"enabled": True, "dim_brightness": 20},
    )
    assert "# quiet nights" in text and "# breakfast" in text and "# amber" in text
    doc = yamlio.load(text)
    assert (doc["schedule"], doc["dim_schedule"]) == written


def test_schedule_times_are_written_quoted_so_yaml_1_1_readers_keep_them_strings(
    tmp_path: Path,
) -> None:
    """PyYAML (YAML 1.1, what LEDMatrix reads with) takes a bare 21:54 for 1314."""
    path = write(tmp_path)
    ConfigEditor(path).update_schedules(
        schedules_with({}, {"enabled": True, "start_time": "21:54", "end_time": "1:05"})
    )
    dim = yamlio.load_as_yaml_1_1(path.read_text())["dim_schedule"]
    assert (dim["start_time"], dim["end_time"]) == ("21:54", "1:05")


def test_a_failing_schedule_build_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, SCHEDULED)
    before = path.read_bytes()

    def refuse(old: Any) -> Any:
        raise ConfigError("must be a time", key="schedule.start_time")

    with pytest.raises(ConfigError):
        ConfigEditor(path).update_schedules(refuse)
    assert path.read_bytes() == before
