"""Turn GitHub's repository answer into a frozen ``RepoInfo``.

Malformed answers raise ``HttpError`` so the cache treats them as a failed
fetch (keeping any good value) rather than caching garbage.
"""

from __future__ import annotations

import json
from typing import Any

from ledmatrix_mqtt.core.models import RepoInfo
from ledmatrix_mqtt.core.text import printable_text
from ledmatrix_mqtt.store.http import HttpError, HttpResponse


def parse_json_object(resp: HttpResponse) -> dict[str, Any]:
    try:
        data = json.loads(resp.body)
    except ValueError as exc:
        raise HttpError(f"GitHub answered invalid JSON: {exc}", status=resp.status) from exc
    if not isinstance(data, dict):
        raise HttpError("GitHub answered an unexpected JSON shape", status=resp.status)
    return data


def _text(data: dict[str, Any], key: str) -> str:
    """A display string; text UTF-8 cannot hold (a lone surrogate) becomes U+FFFD."""
    value = data.get(key)
    return printable_text(value) if isinstance(value, str) else ""


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_repo_info(data: dict[str, Any]) -> RepoInfo:
    """Stars, default branch and the last push (``updated_at`` when GitHub gives no
    ``pushed_at``, as LEDMatrix's store does)."""
    return RepoInfo(
        stars=_int(data, "stargazers_count"),
        default_branch=_text(data, "default_branch") or "main",
        pushed_at=_text(data, "pushed_at") or _text(data, "updated_at"),
    )
