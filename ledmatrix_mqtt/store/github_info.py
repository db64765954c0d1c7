"""Repo and commit info from the GitHub API, behind the store's one ``TtlCache``.

Repo info lives 1 h, commit info 30 min, "not found" 30 min; a failure never
replaces a good value. Only repos under the configured web URL are looked up.
Values fetched by this process are saved on ``save()`` and seeded back (still
within their TTLs) by the next process, so a short-lived CLI run is not cold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

from ledmatrix_mqtt.core.github_urls import GithubUrls, RepoRef, parse_repo_url
from ledmatrix_mqtt.core.models import CommitInfo, RepoInfo
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.store.cache import TtlCache
from ledmatrix_mqtt.store.github_meta import parse_commit, parse_json_object, parse_repo_info
from ledmatrix_mqtt.store.http import HttpClient, HttpError
from ledmatrix_mqtt.store.registry_copy import load_enrichment, save_enrichment

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

REPO_INFO_TTL = 3600.0
COMMIT_INFO_TTL = 1800.0
NOT_FOUND_TTL = 1800.0
_ABSENT_STATUSES = frozenset({404, 409, 410, 422})  # answers that will not change soon
_TTLS = {"repo": REPO_INFO_TTL, "commit": COMMIT_INFO_TTL}


class NeedsFetch(Exception):
    """A cache-only (``offline``) lookup found a key that must be fetched."""


class LookupFailed(Exception):
    """A ``strict`` lookup failed (as opposed to "absent")."""


class GithubInfo:
    """Thread-safe lookups; ``offline`` answers from the cache only (``NeedsFetch``)."""

    def __init__(
        self,
        http: HttpClient,
        urls: GithubUrls,
        cache: TtlCache,
        *,
        clock: Callable[[], float],
        retry_delays: tuple[float, ...] | None,
        saved: Path | None,
    ) -> None:
        self._http = http
        self._urls = urls
        self._cache = cache
        self._retry_delays = retry_delays
        self._saved = saved
        self._fetches = 0
        if saved is not None:
            for key, value, at in load_enrichment(saved):
                ttl = NOT_FOUND_TTL if value is None else _TTLS[key[0]]
                if clock() < at + ttl:
                    cache.seed(key, value, fetched_at=at, ttl=ttl)

    def save(self) -> None:
        """Keep the values still within their TTLs on disk (only if this process fetched)."""
        if self._saved is None or not self._fetches:
            return
        items = [
            (key, value, at)
            for key, value, at in self._cache.fresh_items()
            if isinstance(key, tuple) and key and key[0] in _TTLS
        ]
        save_enrichment(self._saved, items)

    def repo(self, repo_url: str, *, offline: bool, strict: bool = False) -> RepoInfo | None:
        """``/repos/{owner}/{repo}``; None for another host, not found, or (unless
        ``strict``: ``LookupFailed``) a failure."""
        ref = self._api_ref(repo_url)
        if ref is None:
            return None
        fetch = lambda: self._fetch_repo(ref)  # noqa: E731
        return self._lookup(("repo", ref.slug), fetch, REPO_INFO_TTL, offline, strict)

    def commit(
        self, repo_url: str, branches: tuple[str, ...], *, offline: bool, strict: bool = False
    ) -> CommitInfo | None:
        """Head commit of the first of ``branches`` that exists; None as for ``repo``."""
        ref = self._api_ref(repo_url)
        if ref is None or not branches:
            return None
        fetch = lambda: self._fetch_commit(ref, branches)  # noqa: E731
        return self._lookup(("commit", ref.slug, branches), fetch, COMMIT_INFO_TTL, offline, strict)

    def _api_ref(self, repo_url: str) -> RepoRef | None:
        """The repo, if ``repo_url`` lives under the configured GitHub web URL."""
        prefix = self._urls.web_url.lower() + "/"
        if not repo_url.lower().startswith(prefix):
            return None
        return parse_repo_url(repo_url)

    def _lookup(
        self,
        key: Hashable,
        fetch: Callable[[], T | None],
        ttl: float,
        offline: bool,
        strict: bool,
    ) -> T | None:
        try:
            if not offline:
                return self._cache.get_or_fetch(key, fetch, ttl, negative_ttl=NOT_FOUND_TTL).value
            held = self._cache.cached(key)
        except LedMatrixError as exc:
            _LOG.debug("no GitHub info for %s: %s", key, exc.message)
            if strict:
                raise LookupFailed from exc
            return None
        if held is None:
            raise NeedsFetch
        value: T | None = held.value
        return value

    def _fetch_repo(self, ref: RepoRef) -> RepoInfo | None:
        self._fetches += 1
        try:
            resp = self._http.get(self._urls.repo_api(ref), retry_delays=self._retry_delays)
        except HttpError as exc:
            if exc.status in _ABSENT_STATUSES:
                return None
            raise
        return parse_repo_info(parse_json_object(resp))

    def _fetch_commit(self, ref: RepoRef, branches: tuple[str, ...]) -> CommitInfo | None:
        """First branch that exists; a non-"absent" failure aborts (the cache keeps old data)."""
        self._fetches += 1
        for branch in branches:
            try:
                resp = self._http.get(
                    self._urls.commit_api(ref, branch), retry_delays=self._retry_delays
                )
            except HttpError as exc:
                if exc.status in _ABSENT_STATUSES:
                    continue
                raise
            return parse_commit(parse_json_object(resp), branch)
        return None
