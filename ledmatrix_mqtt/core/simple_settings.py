"""Which of a plugin's settings are "simple": editable with one Home Assistant entity.

Pure. A setting is simple when one control can hold it: a boolean (switch), a
string enum (select), a number or integer with both bounds (number), a short
string (text) or an RGB colour (text holding ``#rrggbb``). LEDMatrix schemas
write colours as arrays of three integers 0-255, often with ``"x-widget":
"color-picker"``; the key usually ends in ``_color``.

Nested objects are walked (their keys joined with ``.``); keys other than
``[A-Za-z0-9_-]`` (unsafe in HA templates), and fields marked
``x-secret``, ``x-advanced`` or ``"x-display": "hidden"`` are left out, so a
big scoreboard plugin does not flood the device page. ``display_duration`` is
always listed: the rotation's per-plugin dwell is set through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledmatrix_mqtt.core.plugin_settings import (
    DURATION_RANGE,
    SECRET_MARK,
    SimpleSetting,
    looks_like_credential,
    properties_of,
)

MAX_TEXT_CHARS = 255
MAX_DEPTH = 3
_HIDING_MARKS = (SECRET_MARK, "x-advanced")
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # safe inside HA templates and topic ids


def simple_settings(schema: Mapping[str, Any] | None) -> tuple[SimpleSetting, ...]:
    """The simple settings of a schema, in schema order, ``display_duration`` first."""
    found = _walk(schema or {}, (), (), 0)
    duration = next((s for s in found if s.key == "display_duration"), None)
    rest = tuple(s for s in found if s.key not in ("display_duration", "enabled"))
    return (_duration(duration), *rest)


def _duration(declared: SimpleSetting | None) -> SimpleSetting:
    low, high = DURATION_RANGE
    if declared is not None and declared.kind == "number":
        low = max(low, declared.min if declared.min is not None else low)
        high = min(high, declared.max if declared.max is not None else high)
    return SimpleSetting("display_duration", "number", "Display duration", low, high, 1.0)


def _walk(
    schema: Mapping[str, Any], path: tuple[str, ...], titles: tuple[str, ...], depth: int
) -> list[SimpleSetting]:
    out: list[SimpleSetting] = []
    for key, sub in properties_of(schema).items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or not isinstance(sub, Mapping):
            continue
        hidden = any(sub.get(mark) is True for mark in _HIDING_MARKS) or looks_like_credential(key)
        if hidden or sub.get("x-display") == "hidden":
            continue
        title = str(sub.get("title") or key.replace("_", " ").capitalize())
        if _types(sub) == {"object"}:
            if depth + 1 < MAX_DEPTH:
                out += _walk(sub, (*path, key), (*titles, title), depth + 1)
            continue
        setting = classify(".".join((*path, key)), sub, " ".join((*titles, title)))
        if setting is not None:
            out.append(setting)
    return out


def _types(sub: Mapping[str, Any]) -> set[str]:
    declared = sub.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str) and t != "null"}
    return set()


def classify(key: str, sub: Mapping[str, Any], title: str) -> SimpleSetting | None:
    """The simple setting a property schema describes, or None if it needs more than one control."""
    types = _types(sub)
    if is_color(key, sub):
        return SimpleSetting(key, "color", title, pattern="^#[0-9A-Fa-f]{6}$")
    if types == {"boolean"}:
        return SimpleSetting(key, "boolean", title)
    if types == {"string"} and isinstance(sub.get("enum"), list):
        options = tuple(o for o in sub["enum"] if isinstance(o, str))
        return SimpleSetting(key, "enum", title, options=options) if options else None
    if types == {"string"}:
        return _text(key, sub, title)
    if types in ({"number"}, {"integer"}, {"integer", "number"}):
        return _number(key, sub, title, integer=types == {"integer"})
    return None


def is_color(key: str, sub: Mapping[str, Any]) -> bool:
    """An RGB colour: three integers 0-255, marked as a colour by widget or name."""
    if _types(sub) != {"array"}:
        return False
    widget = str(sub.get("x-widget", ""))
    named = widget.startswith("color") or key.rsplit(".", 1)[-1].endswith(("color", "colour"))
    items = sub.get("items")
    rgb = (
        isinstance(items, Mapping)
        and items.get("type") == "integer"
        and items.get("minimum") == 0
        and items.get("maximum") == 255
        and sub.get("minItems") == 3
        and sub.get("maxItems") == 3
    )
    return named and rgb


def _text(key: str, sub: Mapping[str, Any], title: str) -> SimpleSetting | None:
    longest = sub.get("maxLength", MAX_TEXT_CHARS)
    if not isinstance(longest, int) or longest > MAX_TEXT_CHARS:
        return None
    shortest = sub.get("minLength", 0)
    pattern = sub.get("pattern", "")
    return SimpleSetting(
        key, "text", title,
        min=float(shortest) if isinstance(shortest, int) else 0.0, max=float(longest),
        pattern=pattern if isinstance(pattern, str) else "",
    )  # fmt: skip


def _number(key: str, sub: Mapping[str, Any], title: str, *, integer: bool) -> SimpleSetting | None:
    step = sub.get("multipleOf")
    low, low_open = _bound(sub, "minimum", "exclusiveMinimum")
    high, high_open = _bound(sub, "maximum", "exclusiveMaximum")
    if low is None or high is None:
        return None
    if not isinstance(step, int | float) or isinstance(step, bool) or step <= 0:
        step = 1.0 if integer or high - low > 10 else 0.1
    low = low + step if low_open else low
    high = high - step if high_open else high
    return SimpleSetting(
        key, "number", title, float(low), float(high), float(step), integer=integer
    )


def _bound(sub: Mapping[str, Any], closed: str, opened: str) -> tuple[float | None, bool]:
    for name, is_open in ((closed, False), (opened, True)):
        value = sub.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), is_open
    return None, False
