"""Version comparison (PEP 440) and LEDMatrix-style compatibility ranges.

Ranges follow the forms LEDMatrix manifests use: ``>=1.2``, ``<=``, ``>``, ``<``,
``==``/exact, ``~1.2`` (same minor), ``^1.2`` (same major), ``A - B`` (inclusive),
and space-separated conjunctions such as ``>=2.0.0 <4``.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version


def parse_version(value: object) -> Version | None:
    """Parse a version string (a leading ``v`` is accepted); None when unparseable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[:1] in "vV":
        text = text[1:]
    try:
        return Version(text)
    except InvalidVersion:
        return None


def is_update_available(installed: object, latest: object) -> bool:
    """True when ``latest`` is strictly newer than ``installed``.

    Empty or equal values mean no update. A local version that is ahead is never
    "downgraded". Unparseable values are only an update when they differ from the
    installed text, so a garbage ``latest_version`` cannot cause a reinstall loop
    against the same garbage.
    """
    if not installed or not latest or installed == latest:
        return False
    old, new = parse_version(installed), parse_version(latest)
    if old is None or new is None:
        return str(installed).strip() != str(latest).strip()
    return new > old


_OP_RE = re.compile(r"^(>=|<=|==|!=|>|<|=|~|\^)?\s*(\S+)$")


def _release(v: Version, n: int) -> tuple[int, ...]:
    parts = (*v.release, 0, 0, 0)
    return tuple(parts[:n])


def _check_one(version: Version, clause: str) -> bool | None:
    match = _OP_RE.match(clause.strip())
    if match is None:
        return None
    op, raw = match.group(1) or "==", match.group(2)
    bound = parse_version(raw.replace("x", "0").replace("*", "0"))
    if bound is None:
        return None
    if op in ("==", "="):
        if "x" in raw or "*" in raw:
            keep = len([p for p in raw.lstrip("vV").split(".") if p not in ("x", "*")])
            return _release(version, keep) == _release(bound, keep)
        return version == bound
    comparisons = {
        "~": version >= bound and _release(version, 2) == _release(bound, 2),
        "^": version >= bound and _release(version, 1) == _release(bound, 1),
        ">=": version >= bound,
        "<=": version <= bound,
        ">": version > bound,
        "<": version < bound,
        "!=": version != bound,
    }
    return comparisons[op]


def satisfies(version: str, spec: str) -> bool | None:
    """Whether ``version`` satisfies the range ``spec``; None when either is unparseable."""
    parsed = parse_version(version)
    if parsed is None or not spec.strip():
        return None
    hyphen = re.fullmatch(r"\s*(\S+)\s+-\s+(\S+)\s*", spec)
    if hyphen:
        low, high = parse_version(hyphen.group(1)), parse_version(hyphen.group(2))
        if low is None or high is None:
            return None
        return low <= parsed <= high
    clauses = re.findall(r"(?:>=|<=|==|!=|>|<|=|~|\^)?\s*[^\s,]+", spec.replace(",", " "))
    results = [_check_one(parsed, c) for c in clauses]
    if not results or any(r is None for r in results):
        return None
    return all(bool(r) for r in results)
