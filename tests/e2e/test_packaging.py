"""Installing the package is quiet and ships its data files.

The fonts folder holds data only; declared as package data of a package that
setuptools' ``find:`` did not list, every ``pip install`` printed a 45-line
warning about ``ledmatrix_mqtt.fonts``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_building_the_wheel_warns_about_nothing_and_ships_the_fonts(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: the build writes build/ and *.egg-info beside setup.cfg
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "ledmatrix_mqtt", source / "ledmatrix_mqtt",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"),
         "-v", str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    if result.returncode != 0 and "setuptools" in output and "No matching distribution" in output:
        pytest.skip("no package index to fetch the build backend from")
    assert result.returncode == 0, output
    assert "ledmatrix_mqtt.fonts" not in output, output
    assert "Package would be ignored" not in output
    (wheel,) = (tmp_path / "dist").glob("ledmatrix_mqtt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for font in (REPO / "ledmatrix_mqtt" / "fonts").iterdir():
        assert f"ledmatrix_mqtt/fonts/{font.name}" in names
    assert "ledmatrix_mqtt/py.typed" in names
    assert not [n for n in names if "__pycache__" in n]
