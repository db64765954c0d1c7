"""Configuration: validation messages, secrets merge, atomic key-preserving edits."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledmatrix_mqtt.config_editor import ConfigEditor
from ledmatrix_mqtt.configfile import load_config, secret_values
from ledmatrix_mqtt.core.config_model import DEFAULT_REGISTRY_URL, parse_config
from ledmatrix_mqtt.core.config_reader import ConfigErrors, as_flag, error_lines
from ledmatrix_mqtt.errors import ConfigError, InvalidPayload, StorageFailed
from ledmatrix_mqtt.logsetup import SecretRedactor
from ledmatrix_mqtt.mqtt.codec import coerce_bool
from ledmatrix_mqtt.runtime.spec import spec_from_folder
from tests.support import yamlio
from tests.support.filesystems import fill, remount_read_only, tmpfs

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "config.example.yaml"
BUILTINS = Path(__file__).resolve().parents[2] / "plugins"


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


def test_a_json_config_is_read_and_edited_as_yaml_1_2(tmp_path: Path) -> None:
    """JSON is YAML 1.2: the Home Assistant suite writes its config with json.dumps."""
    path = tmp_path / "config.yaml"
    doc = {
        "device": {"id": "hapanel", "name": "HA Panel"},
        "mqtt": {"embedded": False},
        "plugins": {"clock": {"enabled": True}, "text": {"enabled": True}},
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    cfg = load_config(path)
    assert (cfg.device.id, cfg.device.name, cfg.mqtt.embedded) == ("hapanel", "HA Panel", "false")
    assert ConfigEditor(path).ensure_block("weather-lite", enabled=True) is True
    assert ConfigEditor(path).set_enabled("clock", False) is True
    plugins = {k: dict(v) for k, v in load_config(path).plugins.items()}
    assert plugins == {
        "clock": {"enabled": False},
        "text": {"enabled": True},
        "weather-lite": {"enabled": True},
    }


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
    assert "line" in str(refused_at_load(tmp_path / "config.yaml", "mqtt:\n  host: [unclosed\n"))


def test_missing_config_means_defaults_only_when_allowed(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "absent.yaml")
    assert cfg.mqtt.port == 1883
    with pytest.raises(ConfigError, match="file not found") as info:
        load_config(tmp_path / "absent.yaml", must_exist=True)
    assert info.value.path == str(tmp_path / "absent.yaml")


def test_every_error_in_the_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "device:\n  id: Bad Id!\n  timezone: Mars/Olympus\nmqtt:\n  port: x\n"
        "display:\n  backend: lcd\n  rows: 7\nnonsense: 1\n"
    )
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    keys = [e.key for e in info.value.errors]
    assert keys == ["nonsense", "device.id", "device.timezone", "mqtt.port",
                    "display.backend", "display.rows"]  # fmt: skip
    lines = error_lines(info.value)
    assert len(lines) == 6 and all(line.startswith(f"{path}: ") for line in lines)
    assert "unknown time zone 'Mars/Olympus'" in lines[2]


def test_a_valid_time_zone_passes_and_the_system_default_is_not_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  timezone: America/New_York\n")
    assert load_config(path).device.timezone == "America/New_York"
    cfg = parse_config({}, system_tz="Not/AZone", zone_ok=lambda zone: False)
    assert cfg.device.timezone == "Not/AZone"  # what the host says; nothing the user wrote


def refused_at_load(path: Path, text: str) -> ConfigError:
    """Write ``text`` to ``path``; the error ``load_config`` refuses it with."""
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_boolean_in_a_text_key_gets_a_hint_to_quote_it(tmp_path: Path) -> None:
    error = refused_at_load(tmp_path / "config.yaml", "device:\n  id: true\n")
    assert error.key == "device.id"
    assert "reads as a boolean (true); quote it if you mean the word: 'true'" in str(error)


def test_yaml_1_1_words_are_words_and_flags_read_them(tmp_path: Path) -> None:
    """One YAML library (ruamel, YAML 1.2): ``off`` is the string "off". A device id
    ``off`` is that id; a flag reads it as false through the one boolean rule."""
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  id: off\nplugins:\n  clock:\n    enabled: off\n")
    cfg = load_config(path)
    assert cfg.device.id == "off"
    assert cfg.plugins["clock"]["enabled"] is False


@pytest.mark.parametrize(("value", "mode"), [("true", "auto"), ("false", "false"),
                                             ("auto", "auto"), ("'on'", "auto")])  # fmt: skip
def test_mqtt_embedded_accepts_booleans(tmp_path: Path, value: str, mode: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"mqtt:\n  embedded: {value}\n")
    assert load_config(path).mqtt.embedded == mode


def test_duplicated_key_is_refused_at_load_naming_key_and_line(tmp_path: Path) -> None:
    """A duplicated key passed ``config check`` (the reader kept the last one) and then
    every store edit failed with internal_error (the editor refused it)."""
    path = tmp_path / "config.yaml"
    error = refused_at_load(
        path, "plugins:\n  clock:\n    enabled: true\n  clock:\n    enabled: false\n"
    )
    assert error.key == "plugins.clock"
    assert "duplicate key 'clock' (line 4, column 3); first at line 2" in str(error)
    with pytest.raises(ConfigError, match="duplicate key 'clock'"):
        ConfigEditor(path).set_enabled("clock", True)  # the same clear error, not internal
    assert path.read_text().count("clock") == 2  # untouched


@pytest.mark.parametrize(
    ("value", "flag"),
    [(True, True), (False, False), (1, True), (0, False), ("on", True), ("OFF", False),
     (" yes ", True), ("No", False), ("true", True), ("0", False), ("maybe", None),
     (2, None), (None, None), ("", None)],
)  # fmt: skip
def test_one_boolean_rule_for_config_payloads_and_plugin_specs(
    value: object, flag: bool | None
) -> None:
    assert as_flag(value) is flag
    if flag is None:
        with pytest.raises(InvalidPayload):
            coerce_bool(value, "enabled")
    else:
        assert coerce_bool(value, "enabled") is flag
    spec = spec_from_folder(BUILTINS / "clock", {"enabled": value})
    assert spec.enabled is (flag is True)


def test_editor_keeps_the_users_word_when_the_flag_already_says_so(tmp_path: Path) -> None:
    """The reader took ``enabled: off`` as false but the editor saw the string "off" and
    rewrote the user's line on ``disable``; now both read it the same way."""
    path = tmp_path / "config.yaml"
    text = "plugins:\n  clock:\n    enabled: off   # evenings\n"
    path.write_text(text)
    assert load_config(path).plugins["clock"]["enabled"] is False
    assert ConfigEditor(path).set_enabled("clock", False) is False
    assert path.read_text() == text
    assert ConfigEditor(path).set_enabled("clock", True) is True
    assert "enabled: true  # evenings" in path.read_text()  # the comment keeps its column


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
    doc = yamlio.load(text)
    assert doc["plugins"]["clock"] == {"enabled": True, "custom_key": 42}
    assert doc["plugins"]["new-plugin"] == {"enabled": False}
    assert doc["device"]["name"] == "Kitchen"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temp files left


def test_editor_remove_and_restore_block(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(USER_CONFIG)
    editor = ConfigEditor(path)
    removed = editor.remove_block("clock")
    assert "clock" not in yamlio.read(path)["plugins"]
    editor.restore_block("clock", removed)
    assert yamlio.read(path)["plugins"]["clock"]["custom_key"] == 42
    assert editor.remove_block("absent") is None


@contextmanager
def user_config_on_small_fs(tmp_path: Path) -> Iterator[Path]:
    """``config.yaml`` holding ``USER_CONFIG`` alone on a fresh 64 KiB tmpfs."""
    with tmpfs(tmp_path / "fs", "64k") as fs:
        path = fs / "config.yaml"
        path.write_text(USER_CONFIG)
        yield path


def test_editor_read_only_fs_keeps_original(tmp_path: Path) -> None:
    with user_config_on_small_fs(tmp_path) as path:
        remount_read_only(path.parent)
        with pytest.raises(StorageFailed):
            ConfigEditor(path).set_enabled("clock", True)
        assert path.read_text() == USER_CONFIG


def test_editor_disk_full_keeps_original(tmp_path: Path) -> None:
    """Disk full during the write: StorageFailed, original intact, no temp file left."""
    with user_config_on_small_fs(tmp_path) as path:
        fs = path.parent
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
