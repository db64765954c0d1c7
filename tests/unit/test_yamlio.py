"""The tests' YAML (tests/support/yamlio.py): the service's reader and writer, one library."""

from __future__ import annotations

import ast
from pathlib import Path

from ledmatrix_mqtt.configfile import read_yaml
from tests.support import yamlio

ROOT = Path(__file__).resolve().parents[2]

# Values a YAML 1.1 writer or reader would turn into other types (on, 21:54, 012, ~...).
PLAIN = {
    "words": ["on", "off", "yes", "no", "y", "True", "null", "~", ""],
    "numbers_as_text": ["012", "1e3", "0o17", "1.10", "21:54", "1:05", "2024-01-01", "0x1f"],
    "numbers": [0, -3, 10**20, 1.0, 0.5, float("inf")],
    "flags": [True, False],
    "nothing": None,
    "text": {"hash": "a #b", "colon": "k: v", "alias": "*x", "lines": "a\nb", "lead": " sp"},
    "empty": {"map": {}, "list": []},
    "nested": [{"a": 1}, {"b": [1, [2, 3]]}],
    "z_after_a": {"z": 1, "a": 2},
}


def test_dumped_plain_data_reads_back_equal_through_the_service_reader(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yamlio.dump(PLAIN))
    assert read_yaml(path) == PLAIN == yamlio.read(path) == yamlio.load(path.read_text())
    assert list(yamlio.read(path)) == list(PLAIN)  # insertion order, not sorted
    assert list(yamlio.read(path)["z_after_a"]) == ["z", "a"]


def test_tuples_are_written_as_lists_and_empty_text_reads_as_none() -> None:
    assert yamlio.load(yamlio.dump({"rgb": (255, 0, 0)})) == {"rgb": [255, 0, 0]}
    assert yamlio.load("") is None


def test_the_yaml_1_1_view_reads_bare_times_as_numbers_and_on_as_true() -> None:
    """What makes the quoted-times edit test able to fail: bare 21:54 is 1314 in 1.1."""
    text = 'a: 21:54\nb: "21:54"\nc: on\n'
    assert yamlio.load(text) == {"a": "21:54", "b": "21:54", "c": "on"}
    assert yamlio.load_as_yaml_1_1(text) == {"a": 1314, "b": "21:54", "c": True}


def _imports_pyyaml(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name == "yaml" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "yaml":
            return True
    return False


def test_no_module_of_the_project_imports_pyyaml() -> None:
    """One YAML library (ruamel): package, tests, benchmarks and scripts alike.

    LEDMatrix-style test plugins are third-party code and may use what they like."""
    folders = ("ledmatrix_mqtt", "plugins", "tests", "bench", "scripts")
    files = [
        p
        for folder in folders
        for p in sorted((ROOT / folder).rglob("*.py"))
        if "ledmatrix_style_plugins" not in p.parts
    ]
    assert len(files) > 100
    assert [str(p.relative_to(ROOT)) for p in files if _imports_pyyaml(p)] == []
