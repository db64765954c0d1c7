"""Version comparison and compatibility ranges, both through ``packaging`` (PEP 440).

Ranges in the forms LEDMatrix manifests use (``~1.2``, ``^1.2``, ``1.x``,
``A - B``, space-separated conjunctions such as ``>=2.0.0 <4``) are translated to
a ``SpecifierSet``; PEP 440 forms (``~=3.2``, ``>=1,<2``) are taken as they are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # packaging loads on first use, not with every importer of this module
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version


def parse_version(value: object) -> Version | None:
    """Parse a version string (a leading ``v`` is accepted); None when unparseable."""
    if not isinstance(value, str) or not value.strip():
        return None
    from packaging.version import InvalidVersion, Version

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


_CLAUSE_RE = re.compile(r"^(~=|===|>=|<=|==|!=|>|<|=|~|\^)?\s*([vV]?[0-9][^\s,]*|[xX*])$")
_TOKEN_RE = re.compile(r"(?:~=|===|>=|<=|==|!=|>|<|=|~|\^)?\s*[^\s,]+")


def _pep440(op: str, raw: str) -> list[str] | None:
    """One LEDMatrix/npm-style clause as PEP 440 specifiers; None when unparseable."""
    text = raw.lstrip("vV")
    parts = text.split(".")
    wild = [p in ("x", "X", "*") for p in parts]
    if any(wild):  # 3.x / 3.1.* : a prefix match
        keep = ".".join(parts[: wild.index(True)])
        if op not in ("", "=", "==") or not all(wild[wild.index(True) :]):
            return None
        return [f"=={keep}.*"] if parse_version(keep) else None
    bound = parse_version(text)
    if bound is None:
        return None
    major, minor = (*bound.release, 0)[:2]
    translated = {
        "~": [f">={bound}", f"<{major}.{minor + 1}.dev0"],  # same minor
        "^": [f">={bound}", f"<{major + 1}.dev0"],  # same major
        "": [f"=={bound}"],
        "=": [f"=={bound}"],
    }
    return translated.get(op, [f"{op}{bound}"])


def to_specifier_set(spec: str) -> SpecifierSet | None:
    """A range in any form manifests use, as a ``packaging`` ``SpecifierSet``.

    Forms: PEP 440 (``~=3.2``, ``>=1,<2``, ``==1.*``, ``!=``), npm-style ``~1.2``
    (same minor) and ``^1.2`` (same major), ``1.x``, a bare or ``=`` version,
    ``A - B`` (inclusive), and comma- or space-separated conjunctions.
    None when any part is unparseable.
    """
    text = spec.strip()
    if not text:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    clauses: list[str] = []
    if hyphen:
        low, high = parse_version(hyphen.group(1)), parse_version(hyphen.group(2))
        if low is None or high is None:
            return None
        clauses = [f">={low}", f"<={high}"]
    else:
        for token in _TOKEN_RE.findall(text.replace(",", " ")):
            match = _CLAUSE_RE.match(token.strip())
            converted = _pep440(match.group(1) or "", match.group(2)) if match else None
            if converted is None:
                return None
            clauses += converted
    try:
        return SpecifierSet(",".join(clauses))
    except InvalidSpecifier:
        return None


def satisfies(version: str, spec: str) -> bool | None:
    """Whether ``version`` is in the range ``spec``; None when either is unparseable.

    A pre-release ``version`` is judged like any other (it is what this service is).
    """
    parsed = parse_version(version)
    specifiers = to_specifier_set(spec)
    if parsed is None or specifiers is None:
        return None
    return specifiers.contains(parsed, prereleases=True)
