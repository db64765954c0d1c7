"""Turn result values (frozen dataclasses) into JSON-ready dicts, one way everywhere.

Used for MQTT response ``data``, retained state and ``--json`` CLI output, so a
result looks the same whichever front end produced it. Bulky internals
(``raw`` manifests/registry entries, full ``Manifest`` objects, paths) are left
out; enums become their values; errors become ``{code, message}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

from ledmatrix_mqtt.errors import LedMatrixError

_SKIP_FIELDS = frozenset({"raw", "manifest", "path"})


def to_jsonable(value: Any) -> Any:
    """Recursively convert dataclasses, enums, mappings, tuples and errors."""
    if isinstance(value, LedMatrixError):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in _SKIP_FIELDS and f.repr
        }
        for name in _properties(type(value)):
            out[name] = to_jsonable(getattr(value, name))
        return out
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def _properties(cls: type) -> tuple[str, ...]:
    """Public read-only properties worth exporting (e.g. ``successful``, ``short_sha``)."""
    return tuple(
        name
        for name in dir(cls)
        if not name.startswith("_") and isinstance(getattr(cls, name, None), property)
    )
