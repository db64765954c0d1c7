"""Turn GitHub API answers (repo, commit) into frozen ``RepoInfo``/``CommitInfo``.

Malformed answers raise ``HttpError`` so the cache treats them as a failed
fetch (keeping any good value) rather than caching garbage.
"""

from __future__ import annotations

import json
from typing import Any

from ledmatrix_mqtt.core.models import CommitInfo, RepoInfo
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


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_repo_info(data: dict[str, Any]) -> RepoInfo:
    return RepoInfo(
        stars=_int(data, "stargazers_count"),
        default_branch=_text(data, "default_branch") or "main",
    )


def parse_commit(data: dict[str, Any], branch: str) -> CommitInfo:
    sha = _text(data, "sha")
    if not sha:
        raise HttpError("GitHub commit answer has no sha", status=200)
    commit = _obj(data, "commit")
    author, committer = _obj(commit, "author"), _obj(commit, "committer")
    return CommitInfo(branch, sha, _text(committer, "date") or _text(author, "date"))
