"""Parse the LEDMatrix registry (``plugins.json``) and resolve ids through aliases.

Reads today's format (``repo``/``branch``/``plugin_path``/``latest_version``) and
the older ``versions[]``/``download_url``/``path`` form. Identity resolution is
one alias table, built here, instead of LEDMatrix's scattered ``ledmatrix-``
prefix stripping.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.ids import is_valid_plugin_id
from ledmatrix_mqtt.core.models import Registry, RegistryEntry, frozen_mapping
from ledmatrix_mqtt.core.text import first_unencodable
from ledmatrix_mqtt.errors import InvalidPayload

MAX_REGISTRY_BYTES = 8 * 1024 * 1024


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) else ""


def _normalise_subpath(value: str) -> str:
    """``plugins//x/`` -> ``plugins/x``; refuses traversal by returning ''."""
    if not value:
        return ""
    norm = posixpath.normpath("/" + value.strip().strip("/")).lstrip("/")
    if norm in ("", ".") or ".." in norm.split("/"):
        return ""
    return norm


def _legacy_version_fields(raw: Mapping[str, Any]) -> tuple[str, str]:
    """(latest_version, download_url) from an old ``versions[]`` list, newest first."""
    versions = raw.get("versions")
    if not isinstance(versions, list) or not versions or not isinstance(versions[0], Mapping):
        return "", ""
    first = versions[0]
    version = first.get("version")
    url = first.get("download_url")
    return (
        version if isinstance(version, str) else "",
        url if isinstance(url, str) else "",
    )


def listed_download_url(entry: RegistryEntry, version: str) -> str:
    """The ``versions[].download_url`` the entry lists for ``version``; '' when none."""
    versions = entry.raw.get("versions")
    for item in versions if isinstance(versions, tuple) else ():
        if isinstance(item, Mapping) and item.get("version") == version:
            url = item.get("download_url")
            return url if isinstance(url, str) else ""
    return ""


def parse_entry(raw: object) -> RegistryEntry | None:
    """One registry entry, or None when it is unusable (no valid id, or text that is
    not valid Unicode anywhere in it: such an entry cannot be shown or saved)."""
    if not isinstance(raw, Mapping) or first_unencodable(raw) is not None:
        return None
    plugin_id = _text(raw, "id")
    if not is_valid_plugin_id(plugin_id):
        return None
    legacy_version, legacy_url = _legacy_version_fields(raw)
    tags = raw.get("tags")
    return RegistryEntry(
        id=plugin_id,
        name=_text(raw, "name") or plugin_id,
        repo=_text(raw, "repo").rstrip("/"),
        branch=_text(raw, "branch"),
        plugin_path=_normalise_subpath(_text(raw, "plugin_path") or _text(raw, "path")),
        latest_version=_text(raw, "latest_version") or _text(raw, "version") or legacy_version,
        download_url=_text(raw, "download_url") or legacy_url,
        description=_text(raw, "description"),
        author=_text(raw, "author"),
        category=_text(raw, "category"),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        verified=raw.get("verified") is True,
        type=_text(raw, "type") or "plugin",
        raw=frozen_mapping(raw),
    )


def parse_registry(data: object, *, source: str = "", fetched_at: float = 0.0) -> Registry:
    """Parse a decoded registry document. Invalid entries are skipped, not fatal."""
    if isinstance(data, list):
        items: list[Any] = data
    elif isinstance(data, Mapping) and isinstance(data.get("plugins"), list):
        items = data["plugins"]
    else:
        raise InvalidPayload("registry must be an object with a 'plugins' list")
    seen: set[str] = set()
    entries: list[RegistryEntry] = []
    for raw in items:
        entry = parse_entry(raw)
        if entry is not None and entry.id not in seen and entry.type == "plugin":
            seen.add(entry.id)
            entries.append(entry)
    return Registry(entries=tuple(entries), source=source, fetched_at=fetched_at)


@dataclass(frozen=True)
class AliasTable:
    """Maps every name a plugin is known by to its registry entry.

    Lookup order: exact registry id; then an explicit ``manifest_id``/``aliases``
    field of an entry; then the basename of ``plugin_path`` (how LEDMatrix's
    monorepo names its folders, e.g. registry ``weather`` lives in
    ``plugins/ledmatrix-weather``). An exact id always wins.
    """

    by_id: Mapping[str, RegistryEntry]
    by_alias: Mapping[str, RegistryEntry]

    @classmethod
    def build(cls, registry: Registry) -> AliasTable:
        by_id: dict[str, RegistryEntry] = {e.id: e for e in registry.entries}
        by_alias: dict[str, RegistryEntry] = {}
        for entry in registry.entries:
            for alias in _aliases_of(entry):
                if alias not in by_id:
                    by_alias.setdefault(alias, entry)
        return cls(by_id=by_id, by_alias=by_alias)

    def resolve(self, name: str) -> RegistryEntry | None:
        return self.by_id.get(name) or self.by_alias.get(name)

    def names_for(self, entry: RegistryEntry) -> frozenset[str]:
        """Every id under which this entry may appear on disk or in config."""
        return names_of(entry)


_LAST_TABLE: tuple[tuple[RegistryEntry, ...], AliasTable] | None = None


def alias_table(registry: Registry) -> AliasTable:
    """The alias table of ``registry``, built once per registry document.

    Every caller (resolve, the installed list, search, reconcile) shares it; copies
    of a registry (e.g. marked stale) share its entries and so its table.
    """
    global _LAST_TABLE
    memo = _LAST_TABLE
    if memo is not None and memo[0] is registry.entries:
        return memo[1]
    table = AliasTable.build(registry)
    _LAST_TABLE = (registry.entries, table)
    return table


def names_of(entry: RegistryEntry) -> frozenset[str]:
    """Every id under which ``entry`` may appear on disk or in config (id and aliases)."""
    return frozenset({entry.id, *_aliases_of(entry)})


def _aliases_of(entry: RegistryEntry) -> tuple[str, ...]:
    out: list[str] = []
    manifest_id = entry.raw.get("manifest_id")
    if isinstance(manifest_id, str) and is_valid_plugin_id(manifest_id):
        out.append(manifest_id)
    aliases = entry.raw.get("aliases")
    if isinstance(aliases, tuple):
        out.extend(a for a in aliases if isinstance(a, str) and is_valid_plugin_id(a))
    if entry.plugin_path:
        base = posixpath.basename(entry.plugin_path)
        if is_valid_plugin_id(base):
            out.append(base)
    return tuple(dict.fromkeys(a for a in out if a != entry.id))


def filter_entries(
    entries: tuple[RegistryEntry, ...],
    *,
    query: str = "",
    category: str = "",
    tags: tuple[str, ...] = (),
) -> tuple[RegistryEntry, ...]:
    """Store search filters, applied before any enrichment, keeping registry order.

    Category is an exact match, tags match if any requested tag is present, and the
    query is a case-insensitive substring of name, description, id and author.
    """
    needle = query.strip().lower()
    wanted_tags = {t for t in tags if t}
    out = []
    for e in entries:
        if category and e.category != category:
            continue
        if wanted_tags and not wanted_tags.intersection(e.tags):
            continue
        if needle and needle not in f"{e.name} {e.description} {e.id} {e.author}".lower():
            continue
        out.append(e)
    return tuple(out)
