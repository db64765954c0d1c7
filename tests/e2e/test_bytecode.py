"""The service starts on the bytecode the install wrote: it compiles none of its modules.

An editable install has no bytecode of its own, and compiling the package's modules
from source at every start costs a Pi seconds. ``scripts/_bootstrap.sh`` compiles
the package and the built-in plugins; the systemd unit's environment must let the
service use that bytecode. Checked on a copy of the checkout, so what is tested is
what the bootstrap writes, not what earlier test runs left behind.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.systemd_unit import UNIT, service_environment, unit_settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# Counts the modules the import system compiles from source (a module with usable
# bytecode is loaded from it without this call), then imports what ``run`` imports.
PROBE = """
import importlib._bootstrap_external as ext
compiled = []
original = ext.SourceLoader.source_to_code
def counting(self, data, path, *, _optimize=-1):
    compiled.append(path)
    return original(self, data, path, _optimize=_optimize)
ext.SourceLoader.source_to_code = counting
import ledmatrix_mqtt, ledmatrix_mqtt.cli.main, ledmatrix_mqtt.app
print(ledmatrix_mqtt.__file__)
print("\\n".join(compiled))
"""


def copy_checkout(target: Path) -> Path:
    for name in ("ledmatrix_mqtt", "plugins", "scripts"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_service_started_as_the_unit_starts_it_compiles_none_of_its_modules(
    tmp_path: Path,
) -> None:
    tree = copy_checkout(tmp_path / "checkout")
    bootstrap = tree / "scripts" / "_bootstrap.sh"
    subprocess.run(
        ["bash", "-c", f'source "{bootstrap}" && compile_bytecode'],
        env={**os.environ, "LEDMATRIX_VENV": sys.prefix},  # this shell may say "no bytecode"
        check=True,
        timeout=300,
    )
    sources = sorted((tree / "ledmatrix_mqtt").rglob("*.py")) + sorted(
        (tree / "plugins").rglob("*.py")
    )
    missing = [s for s in sources if not Path(importlib.util.cache_from_source(str(s))).is_file()]
    assert len(sources) > 100 and not missing, missing

    env = service_environment(unit_settings(UNIT.read_text()))
    env["PYTHONPATH"] = str(tree)  # the copy, ahead of the editable install's finder
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tree,  # the unit's WorkingDirectory is the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    package, *compiled = done.stdout.splitlines()
    assert package == str(tree / "ledmatrix_mqtt" / "__init__.py")
    assert [path for path in compiled if path.startswith(str(tree))] == []
