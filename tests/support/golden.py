"""Golden-image comparison for frame tests (``tests/golden/``).

Regenerate after an intended visual change with ``UPDATE_GOLDEN=1 pytest ...``
and review the PNGs before committing them. A missing golden is written and
the test fails, so a new image is always looked at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def check_golden(frame: Image.Image, name: str) -> None:
    """Assert ``frame`` equals ``tests/golden/<name>.png`` pixel for pixel."""
    path = GOLDEN / f"{name}.png"
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.save(path)
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"golden {path.name} was missing and has been written; review it")
    with Image.open(path) as expected:
        assert expected.size == frame.size, name
        assert ImageChops.difference(expected.convert("RGB"), frame).getbbox() is None, name
