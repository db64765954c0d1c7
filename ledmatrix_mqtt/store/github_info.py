"""Repo info from the GitHub API, behind the store's one ``TtlCache``.

One request per repository (``/repos/{owner}/{repo}``: stars, default branch and
last push), shared by every registry entry of that repository (a monorepo's
plugins share one). Repo info lives 1 h, "not found" 30 min; a failure never
replaces a good value. Only repos under the configured web URL are looked up.

A repository whose lookup missed a search deadline is marked slow until a lookup
of it answers (at most ``SLOW_TTL``), so the next search does not wait for it again.

Values held by this process are saved on ``save()`` and seeded back (still within
their TTLs) by the next process, so a short-lived CLI run is not cold and does not
wait again for a repository the previous run found stalled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ledmatrix_mqtt.core.github_urls import GithubUrls, RepoRef, parse_repo_url
from ledmatrix_mqtt.core.models import RepoInfo
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.store.cache import TtlCache
from ledmatrix_mqtt.store.github_meta import parse_json_object, parse_repo_info
from ledmatrix_mqtt.store.http import HttpClient, HttpError
from ledmatrix_mqtt.store.registry_copy import load_enrichment, save_enrichment

_LOG = logging.getLogger(__name__)

REPO_INFO_TTL = 3600.0
NOT_FOUND_TTL = 1800.0
SLOW_TTL = 24 * 3600.0
_ABSENT_STATUSES = frozenset({404, 409, 410, 422})  # answers that will not change soon
_TTLS = {"repo": REPO_INFO_TTL, "slow": SLOW_TTL}


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
        key = ("repo", ref.slug)
        try:
            if not offline:
                fetch = lambda: self._fetch_repo(ref)  # noqa: E731
                info: RepoInfo | None = self._cache.get_or_fetch(
                    key, fetch, REPO_INFO_TTL, negative_ttl=NOT_FOUND_TTL
                ).value
                return info
            held = self._cache.cached(key)
        except LedMatrixError as exc:
            _LOG.debug("no GitHub info for %s: %s", ref.slug, exc.message)
            if strict:
                raise LookupFailed from exc
            return None
        if held is None:
            raise NeedsFetch
        cached: RepoInfo | None = held.value
        return cached

    def mark_slow(self, repo_url: str) -> None:
        """``repo_url``'s lookup missed a search deadline: searches stop waiting for it."""
        ref = self._api_ref(repo_url)
        if ref is not None:
            self._cache.get_or_fetch(("slow", ref.slug), lambda: True, SLOW_TTL, force=True)

    def is_slow(self, repo_url: str) -> bool:
        ref = self._api_ref(repo_url)
        return ref is not None and self._cache.cached(("slow", ref.slug)) is not None

    def _api_ref(self, repo_url: str) -> RepoRef | None:
        """The repo, if ``repo_url`` lives under the configured GitHub web URL."""
        prefix = self._urls.web_url.lower() + "/"
        if not repo_url.lower().startswith(prefix):
            return None
        return parse_repo_url(repo_url)

    def _fetch_repo(self, ref: RepoRef) -> RepoInfo | None:
        self._fetches += 1
        try:
            resp = self._http.get(self._urls.repo_api(ref), retry_delays=self._retry_delays)
        except HttpError as exc:
            if exc.status not in _ABSENT_STATUSES:
                raise
            info = None
        else:
            info = parse_repo_info(parse_json_object(resp))
        self._cache.invalidate(("slow", ref.slug))  # it answered: wait for it again
        return info
