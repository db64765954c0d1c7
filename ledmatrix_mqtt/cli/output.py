"""Print command results as a table / summary, or as JSON with ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


def print_json(data: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def render_list(plugins: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            str(p.get("id", "")),
            str(p.get("version", "")),
            str(p.get("latest_version", "") or "-"),
            "update" if p.get("update_available") else "",
            _yes(p.get("enabled")),
            str(p.get("source", "")),
            str(p.get("error", ""))[:50],
        ]
        for p in plugins
    ]
    headers = ["ID", "VERSION", "LATEST", "", "ENABLED", "SOURCE", "ERROR"]
    return table(rows, headers) if rows else "no plugins installed"


def render_search(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for item in entries:
        entry = item.get("entry", item)
        rows.append([
            str(entry.get("id", "")),
            str(entry.get("latest_version", "")),
            str(entry.get("category", "")),
            "installed" if item.get("installed") else "",
            str(entry.get("description", ""))[:50],
        ])  # fmt: skip
    return table(rows, ["ID", "LATEST", "CATEGORY", "", "DESCRIPTION"]) if rows else "no matches"


def render_summary(command: str, data: Mapping[str, Any]) -> str:
    """A short human sentence for mutating commands."""
    if command in ("install", "update") and "action" in data:
        prev = data.get("previous_version")
        dep = (data.get("dependencies") or {}).get("status", "none")
        extra = f" (was {prev})" if prev and prev != data.get("version") else ""
        deps = "" if dep in ("none", "satisfied", "installed") else f"; dependencies {dep}"
        return f"{data.get('plugin_id')}: {data.get('action')} {data.get('version')}{extra}{deps}"
    if command == "uninstall":
        return f"{data.get('plugin_id')}: uninstalled"
    if command == "reconcile":
        fixed = data.get("fixed") or []
        need = data.get("needs_attention") or []
        found = data.get("inconsistencies") or []
        lines = [f"{len(found)} inconsistencies, {len(fixed)} fixed, {len(need)} need a person"]
        lines += [f"  fixed: {i['plugin_id']} {i['kind']} -> {i['action']}" for i in fixed]
        lines += [f"  needs attention: {i['plugin_id']} {i['kind']}: {i['detail']}" for i in need]
        return "\n".join(lines)
    return json.dumps(data, indent=2, sort_keys=True)
