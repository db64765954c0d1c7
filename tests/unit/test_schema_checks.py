"""Plugin schemas are checked against their metaschema once per text, across restarts.

The service publishes every plugin's settings before it is online; with the
passes remembered in the state dir, a restart with unchanged plugins gets there
without importing jsonschema (about 0.1 s of CPU here, several times that on a Pi).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledmatrix_mqtt.errors import InvalidManifest
from ledmatrix_mqtt.schema_checks import SchemaChecks

SCHEMA = json.dumps(
    {"type": "object", "properties": {"units": {"type": "string", "default": "metric"}}}
).encode()
BROKEN = b'{"type": 12}'  # JSON, but not a JSON schema

# One process start: remember passes in argv[1], read argv[2], report whether the
# read needed jsonschema.
START = """
import sys
from pathlib import Path
from ledmatrix_mqtt.schema_checks import SchemaChecks
checks = SchemaChecks()
checks.keep_in(Path(sys.argv[1]))
schema = checks.parse(Path(sys.argv[2]).read_bytes())
checks.save()
print(schema["properties"]["units"]["default"], "jsonschema" in sys.modules)
"""


def start(memo: Path, schema: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", START, str(memo), str(schema)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_a_restart_with_an_unchanged_schema_reads_it_without_jsonschema(tmp_path: Path) -> None:
    memo, schema = tmp_path / "cache" / "checked-schemas.json", tmp_path / "config_schema.json"
    schema.write_bytes(SCHEMA)
    assert start(memo, schema) == "metric True"  # first sight: checked
    assert start(memo, schema) == "metric False"  # the restart: remembered
    schema.write_bytes(SCHEMA.replace(b"metric", b"imperial"))
    assert start(memo, schema) == "imperial True"  # another text is checked again


def test_a_broken_schema_is_refused_every_time_and_never_remembered(tmp_path: Path) -> None:
    memo = tmp_path / "checked-schemas.json"
    checks = SchemaChecks()
    checks.keep_in(memo)
    checks.parse(SCHEMA)
    for _ in range(2):
        with pytest.raises(InvalidManifest):
            checks.parse(BROKEN)
    checks.save()
    assert len(json.loads(memo.read_text())) == 1


def test_a_corrupt_memo_file_only_costs_a_check(tmp_path: Path) -> None:
    memo = tmp_path / "checked-schemas.json"
    memo.write_text("{not json")
    checks = SchemaChecks()
    checks.keep_in(memo)
    assert checks.parse(SCHEMA)["type"] == "object"
    with pytest.raises(InvalidManifest):
        checks.parse(BROKEN)
    checks.close()
    checks.parse(SCHEMA.replace(b"metric", b"imperial"))
    checks.save()  # closed: the second text is not written
    assert len(json.loads(memo.read_text())) == 1
