"""Print command results as a table / summary, or as JSON with ``--json``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
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


def render_search(data: Mapping[str, Any]) -> str:
    rows = []
    for item in data.get("entries", []):
        entry = item.get("entry", item)
        rows.append([
            str(entry.get("id", "")),
            str(entry.get("latest_version", "")),
            str(entry.get("category", "")),
            "installed" if item.get("installed") else "",
            str(entry.get("description", ""))[:50],
        ])  # fmt: skip
    out = table(rows, ["ID", "LATEST", "CATEGORY", "", "DESCRIPTION"]) if rows else "no matches"
    if data.get("stale"):
        out += "\n(the store could not be reached: this is the cached copy"
        when = data.get("fetched_at")
        out += f" from {time.strftime('%Y-%m-%d %H:%M', time.localtime(when))})" if when else ")"
    return out


def plural(count: int, word: str, many: str = "") -> str:
    """``1 plugin``, ``2 plugins``, ``0 inconsistencies`` (``many``: an irregular plural)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def _item_line(verb: str, item: Mapping[str, Any]) -> str:
    detail = f" ({item['detail']})" if item.get("detail") else ""
    return f"  {item['plugin_id']}: {item['kind']}; {verb} {item['action']}{detail}"


def render_reconcile(data: Mapping[str, Any]) -> str:
    found = data.get("inconsistencies") or []
    fixed = data.get("fixed") or []
    need = data.get("needs_attention") or []
    count = plural(len(found), "inconsistency", "inconsistencies")
    if data.get("dry_run"):
        if not found:
            return "nothing to do: the config file and the disk agree (dry run)"
        lines = [f"{count} found; the plan (dry run, nothing changed):"]
        return "\n".join(lines + [_item_line("would", i) for i in found])
    people = f"{len(need)} {'needs' if len(need) == 1 else 'need'} a person"
    lines = [f"{count}, {len(fixed)} fixed, {people}"]
    lines += [_item_line("fixed:", i) for i in fixed]
    lines += [_item_line("needs attention:", i) for i in need]
    return "\n".join(lines)


def render_install(data: Mapping[str, Any]) -> str:
    prev = data.get("previous_version")
    dep = (data.get("dependencies") or {}).get("status", "none")
    extra = f" (was {prev})" if prev and prev != data.get("version") else ""
    deps = "" if dep in ("none", "satisfied", "installed") else f"; dependencies {dep}"
    return f"{data.get('plugin_id')}: {data.get('action')} {data.get('version')}{extra}{deps}"


def render_update_all(data: Mapping[str, Any]) -> str:
    results = data.get("results") or []
    errors = data.get("errors") or []
    lines = [render_install(r) for r in results]
    lines += [f"{e.get('plugin_id')}: error {e.get('code')}: {e.get('message')}" for e in errors]
    return "\n".join(lines) if lines else "every plugin is up to date"


def render_enabled(data: Mapping[str, Any]) -> str:
    """One sentence: the plugin's new state in the rotation (and why it is not showing)."""
    pid = data.get("id", "")
    if not data.get("enabled"):
        return f"{pid}: disabled (out of the rotation)"
    if data.get("error"):
        return f"{pid}: enabled, but it cannot run: {data['error']}"
    return f"{pid}: enabled (in the rotation)"


def render_display(data: Mapping[str, Any]) -> str:
    """The panel after a display command, in one line."""
    if data.get("power") == "OFF":
        return f"panel: off (brightness {data.get('brightness')}%)"
    showing = data.get("current_plugin") or "nothing"
    pinned = " (pinned; 'next' resumes the rotation)" if data.get("pinned_until") else ""
    text = f": {data['text']!r}" if showing == "text" and data.get("text") else ""
    return f"panel: on, brightness {data.get('brightness')}%, showing {showing}{text}{pinned}"


def render_install_or_update(data: Mapping[str, Any]) -> str:
    return render_update_all(data) if "results" in data else render_install(data)


_RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "list": lambda data: render_list(data.get("plugins", [])),
    "search": render_search,
    "install": render_install_or_update,
    "update": render_install_or_update,
    "uninstall": lambda data: f"{data.get('plugin_id')}: uninstalled",
    "reconcile": render_reconcile,
    "enable": render_enabled,
    "disable": render_enabled,
}


def human(command: str, data: Any) -> str:
    """The text form of a command's response ``data`` (display commands: the panel)."""
    return _RENDERERS.get(command, render_display)(data)
