"""The one rule for strings that arrive from outside (registry, manifests).

A JSON document may hold a lone UTF-16 surrogate (``"\\ud800"``): valid JSON,
but not encodable as UTF-8, so it cannot be saved, logged to a UTF-8 sink or
published over MQTT. Such text is refused where it enters, never carried along.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_encodable(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (for display-only values)."""
    if is_encodable(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def first_unencodable(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string in ``value`` that is not encodable
    as UTF-8 (``""`` for ``value`` itself), or None when every string is clean."""
    if isinstance(value, str):
        return None if is_encodable(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not is_encodable(key):
                return path or "<key>"
            found = first_unencodable(item, where)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = first_unencodable(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
