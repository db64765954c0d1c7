"""Configuration: validation messages, secrets merge, atomic key-preserving edits."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from ledmatrix_mqtt.configfile import ConfigEditor, load_config, secret_values
from ledmatrix_mqtt.core.config_model import DEFAULT_REGISTRY_URL, parse_config
from ledmatrix_mqtt.errors import ConfigError, StorageFailed
from ledmatrix_mqtt.logsetup import SecretRedactor
from tests.support.filesystems import fill, remount_read_only, tmpfs

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "config.example.yaml"


def test_defaults_when_empty() -> None:
    cfg = parse_config({}, hostname_id="pi", system_tz="Europe/Berlin")
    assert cfg.device.id == "pi"
    assert cfg.device.timezone == "Europe/Berlin"
    assert cfg.mqtt.base_topic == "ledmatrix"
    assert cfg.mqtt.discovery_prefix == "homeassistant"
    assert cfg.store.registry_url == DEFAULT_REGISTRY_URL
    assert cfg.store.allow_install_from_url is False
    assert cfg.display.backend == "auto"
    assert "codeload.github.com" in cfg.store.allowed_hosts()
    assert "raw.githubusercontent.com" in cfg.store.allowed_hosts()


def test_example_config_is_valid(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.plugins["clock"]["enabled"] is True
    assert Path(cfg.state_dir).is_absolute()


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"device": {"id": "Bad Id!"}}, "device.id"),
        ({"mqtt": {"port": 70000}}, "mqtt.port"),
        ({"mqtt": {"port": "1883"}}, "mqtt.port"),
        ({"mqtt": {"base_topic": "a/#"}}, "mqtt.base_topic"),
        ({"mqtt": {"tls": {"enabled": "maybe"}}}, "mqtt.tls.enabled"),
        ({"mqtt": {"tls": {"bogus": 1}}}, "mqtt.tls.bogus"),
        ({"display": {"backend": "lcd"}}, "display.backend"),
        ({"display": {"brightness": 101}}, "display.brightness"),
        ({"store": {"github": {"api_url": "ftp://x"}}}, "store.github.api_url"),
        ({"plugins": {"../x": {}}}, "plugins.../x"),
        ({"plugins": {"clock": {"enabled": "yes please"}}}, "plugins.clock.enabled"),
        ({"plugins": {"clock": {"display_duration": -1}}}, "plugins.clock.display_duration"),
        ({"unknown_top": 1}, "unknown_top"),
        ({"mqtt": []}, "mqtt"),
    ],
)
def test_errors_name_the_key_and_file(doc: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, path="/etc/x.yaml")
    assert info.value.key == key
    assert str(info.value).startswith("/etc/x.yaml: " + key)


def test_secrets_file_is_merged_and_state_dir_resolved(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("mqtt:\n  username: ha\nstate_dir: st\n")
    (tmp_path / "secrets.yaml").write_text("mqtt:\n  password: s3cret\n")
    cfg = load_config(tmp_path / "config.yaml")
    assert cfg.mqtt.username == "ha"
    assert cfg.mqtt.password == "s3cret"
    assert cfg.state_dir == str(tmp_path / "st")
    assert "s3cret" not in repr(cfg)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("mqtt:\n  host: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(path)


def test_missing_config_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "absent.yaml")
    assert cfg.mqtt.port == 1883


USER_CONFIG = """\
# my config
device:
  name: Kitchen   # the name HA shows
plugins:
  clock:
    enabled: false   # off in the evening
    custom_key: 42
  weather:
    enabled: true
"""


def test_editor_preserves_keys_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(USER_CONFIG)
    editor = ConfigEditor(path)
    assert editor.set_enabled("clock", True) is True
    assert editor.set_enabled("clock", True) is False  # no-op, no write
    assert editor.ensure_block("new-plugin", enabled=False) is True
    assert editor.ensure_block("weather", enabled=False) is False
    text = path.read_text()
    assert "# my config" in text and "# the name HA shows" in text
    doc = yaml.safe_load(text)
    assert doc["plugins"]["clock"] == {"enabled": True, "custom_key": 42}
    assert doc["plugins"]["new-plugin"] == {"enabled": False}
    assert doc["device"]["name"] == "Kitchen"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temp files left


def test_editor_remove_and_restore_block(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(USER_CONFIG)
    editor = ConfigEditor(path)
    removed = editor.remove_block("clock")
    assert "clock" not in yaml.safe_load(path.read_text())["plugins"]
    editor.restore_block("clock", removed)
    assert yaml.safe_load(path.read_text())["plugins"]["clock"]["custom_key"] == 42
    assert editor.remove_block("absent") is None


def test_editor_read_only_fs_keeps_original(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "64k") as fs:
        path = fs / "config.yaml"
        path.write_text(USER_CONFIG)
        remount_read_only(fs)
        with pytest.raises(StorageFailed):
            ConfigEditor(path).set_enabled("clock", True)
        assert path.read_text() == USER_CONFIG


def test_editor_disk_full_keeps_original(tmp_path: Path) -> None:
    """Disk full during the write: StorageFailed, original intact, no temp file left."""
    with tmpfs(tmp_path / "fs", "64k") as fs:
        path = fs / "config.yaml"
        path.write_text(USER_CONFIG)
        fill(fs)
        with pytest.raises(StorageFailed):
            ConfigEditor(path).ensure_block("x" * 60, enabled=False)
        assert path.read_text() == USER_CONFIG
        assert sorted(p.name for p in fs.iterdir()) == [".filler", "config.yaml"]


def test_numeric_secrets_are_redacted_too(tmp_path: Path) -> None:
    """README: every value in secrets.yaml is redacted from logs. Only strings were
    collected, so a numeric secret (``pin: 48151623``) reached log lines in clear."""
    (tmp_path / "secrets.yaml").write_text(
        "mqtt:\n  password: hunter22\nplugins:\n  alarm:\n    pin: 48151623\n    enabled: true\n"
    )
    found = secret_values(tmp_path / "config.yaml")
    assert {"hunter22", "48151623"} <= found
    assert "True" not in found and "true" not in found  # booleans are not secrets
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pin is %s", (48151623,), None)
    SecretRedactor(found).filter(record)
    assert record.getMessage() == "pin is ***"
