"""YAML for tests and benchmarks, through the service's own reader and writer.

The project has one YAML library: ruamel, configured once in
``ledmatrix_mqtt.configfile.new_yaml`` (YAML 1.2: only ``true``/``false`` are
booleans, ``21:30`` is a string). Reading here gives what the service reads;
``dump`` of plain data (dicts, lists, str, int, float, bool, None) reads back equal.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.configfile import new_yaml, parse_yaml, plain


def load(text: str) -> Any:
    """``text`` as plain data, as the service reads it (None when empty)."""
    return plain(parse_yaml(text, Path("<text>")))


def read(path: Path) -> Any:
    """The file at ``path`` as plain data, as the service reads it (never cached)."""
    return plain(parse_yaml(path.read_text(encoding="utf-8"), path))


def load_as_yaml_1_1(text: str) -> Any:
    """``text`` as a YAML 1.1 reader (PyYAML, LEDMatrix's) sees it: ``21:54`` is the
    base-60 number 1314 and ``on``/``yes`` are booleans."""
    yaml = new_yaml()
    yaml.version = (1, 1)
    return plain(yaml.load(text))


def dump(data: Any) -> str:
    """Plain ``data`` as YAML text, keys in insertion order (tuples become lists)."""
    buf = io.StringIO()
    new_yaml().dump(data, buf)
    return buf.getvalue()
