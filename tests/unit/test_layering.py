"""The package's layers, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ledmatrix_mqtt"
ADAPTERS = ("store", "runtime", "mqtt")
# The pure core does no network, MQTT, hardware, threads or subprocesses.
CORE_FORBIDDEN = (
    "paho", "requests", "urllib.request", "http", "socket", "subprocess", "threading",
    "rgbmatrix", "RGBMatrixEmulator", "PIL", "ruamel", "yaml",
)  # fmt: skip


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_the_core_is_pure(path: Path) -> None:
    inside = {"ledmatrix_mqtt.core", "ledmatrix_mqtt.errors"}
    for name in imports_of(path):
        if under(name, "ledmatrix_mqtt"):
            assert any(under(name, ok) for ok in inside), f"{path.name} imports {name}"
        assert not any(under(name, bad) for bad in CORE_FORBIDDEN), f"{path.name} imports {name}"


@pytest.mark.parametrize("layer", ADAPTERS)
def test_store_runtime_and_mqtt_never_import_each_other(layer: str) -> None:
    others = [f"ledmatrix_mqtt.{o}" for o in (*ADAPTERS, "cli", "app") if o != layer]
    for path in modules(layer):
        for name in imports_of(path):
            assert not any(under(name, o) for o in others), f"{layer}/{path.name} imports {name}"


def test_errors_imports_nothing_internal() -> None:
    assert not {n for n in imports_of(PACKAGE / "errors.py") if under(n, "ledmatrix_mqtt")}
