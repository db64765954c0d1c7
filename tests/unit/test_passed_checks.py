"""Schema checks that passed are remembered (in memory and across restarts); failures never are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledmatrix_mqtt.core.plugin_settings import parse_schema, resolve
from ledmatrix_mqtt.errors import ConfigError, InvalidManifest
from ledmatrix_mqtt.passed_checks import FILE_NAME, PassedChecksFile

CLOCK = Path(__file__).resolve().parents[2] / "plugins" / "clock"
SCHEMA_RAW = (CLOCK / "config_schema.json").read_bytes()
SCHEMA = json.loads(SCHEMA_RAW)


def test_invalid_block_is_rejected_every_time_and_never_remembered() -> None:
    memo = PassedChecksFile()
    errors = []
    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            resolve(SCHEMA, "clock", {"color": [1, 2, 999]}, memo)
        errors.append((caught.value.code, caught.value.key, caught.value.message))
    assert errors[0] == errors[1] and errors[0][:2] == ("invalid_config", "plugins.clock.color.2")
    assert not memo._known


def test_a_changed_block_is_checked_again_after_a_valid_one() -> None:
    memo = PassedChecksFile()
    assert resolve(SCHEMA, "clock", {"show_date": False}, memo)["show_date"] is False
    assert len(memo._known) == 1
    with pytest.raises(ConfigError, match="not of type 'boolean'"):
        resolve(SCHEMA, "clock", {"show_date": "no"}, memo)


def test_invalid_schema_is_rejected_every_time() -> None:
    memo = PassedChecksFile()
    for _ in range(2):
        with pytest.raises(InvalidManifest, match="not a valid JSON schema"):
            parse_schema(b'{"type": "no-such-type"}', memo)
    assert not memo._known


def test_a_block_with_a_non_string_key_is_not_taken_for_its_json_twin() -> None:
    memo = PassedChecksFile()
    schema = {
        "type": "object",
        "properties": {"1": {"type": "string"}},
        "additionalProperties": False,
    }
    assert resolve(schema, "p", {"1": "a"}, memo) == {"1": "a"}
    with pytest.raises(ConfigError):  # same JSON text, but the key is the integer 1
        resolve(schema, "p", {1: "a"}, memo)


def test_schema_text_with_a_lone_surrogate_is_checked_and_remembered() -> None:
    memo = PassedChecksFile()
    raw = '{"type": "object", "title": "\ud800"}'
    assert parse_schema(raw, memo)["type"] == "object"
    assert parse_schema(raw, memo)["title"] == "\ud800"
    assert len(memo._known) == 1


_LOAD = """
import sys
from pathlib import Path
from ledmatrix_mqtt.errors import ConfigError
from ledmatrix_mqtt.passed_checks import PASSED
from ledmatrix_mqtt.runtime.plugin_config import resolve_config
PASSED.persist_in(Path(sys.argv[1]))
try:
    block = {"show_date": sys.argv[3] == "valid" or "x"}
    config = resolve_config(Path(sys.argv[2]), "clock", block)
    print("ok", config["show_date"], "jsonschema" in sys.modules)
except ConfigError as exc:
    print("refused", exc.code, exc.key)
PASSED.flush()
"""


def _load_in_new_process(cache: Path, block: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _LOAD, str(cache), str(CLOCK), block],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_restart_with_an_unchanged_block_loads_it_without_importing_jsonschema(
    tmp_path: Path,
) -> None:
    assert _load_in_new_process(tmp_path, "valid") == "ok True True"  # checked, remembered
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600  # a digest covers secrets
    assert _load_in_new_process(tmp_path, "valid") == "ok True False"  # nothing changed
    assert (
        _load_in_new_process(tmp_path, "invalid")
        == "refused invalid_config plugins.clock.show_date"
    )


def test_memory_of_another_jsonschema_install_is_dropped(tmp_path: Path) -> None:
    assert _load_in_new_process(tmp_path, "valid") == "ok True True"
    saved = json.loads((tmp_path / FILE_NAME).read_text())
    saved["jsonschema"] = "/elsewhere/jsonschema/__init__.py:1"
    (tmp_path / FILE_NAME).write_text(json.dumps(saved))
    assert _load_in_new_process(tmp_path, "valid") == "ok True True"
