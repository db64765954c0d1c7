"""The registry and GitHub metadata, fetched through one ``TtlCache``; store search.

Contracts (each tested in tests/integration/test_registry_client.py or _search.py):

* The registry is cached for ``store_config.registry_ttl`` (15 min). A failed
  refresh serves the held copy marked ``stale`` and backs off 60 s without
  touching the network; with nothing held it raises ``RegistryUnavailable``
  (never an empty registry that looks real). ``raise_on_failure`` raises even
  when a stale copy exists, so callers can tell "unreachable" from "not listed".
* The last good registry is persisted to ``cache/registry.json`` and loaded at
  start as a stale copy, so a device that boots offline still knows it.
* Repo info (stars, default branch, last push; 1 h, "not found" 30 min) comes
  from the GitHub API (``github_info.py``): one request per repository, shared
  by the entries of a monorepo, only for repos under the configured web URL; a
  failure never replaces a good value. Values still within their TTLs are saved
  at ``close()`` for the next process.
* ``search`` filters before any enrichment, enriches in a bounded pool and keeps
  registry order. With an enrichment listener (the running service) it answers
  from the registry and the cache at once; ``enrich``, called once the answer is
  sent, starts the lookups and the listener hears when those have all landed in
  the cache. Without a listener (the CLI) it waits up to a deadline. Late
  entries come back with ``enriched=False`` while the pool keeps filling the
  cache for next time. It is ``complete`` only when
  every entry's lookup settled (found or absent). It never waits for a lookup
  it did not start (one stalled since an earlier search) nor for a repository
  whose lookup missed the previous deadline (remembered across processes), so a
  stalled repository costs the deadline once, not on every search.
* Every HTTP call has a total deadline and retries (``HttpClient``); the
  registry body is capped at ``MAX_REGISTRY_BYTES`` while it streams.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ledmatrix_mqtt.api import SearchResult
from ledmatrix_mqtt.core.config_model import StoreConfig
from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.models import Registry, RegistryEntry, RepoInfo, StoreEntry
from ledmatrix_mqtt.core.registry_format import (
    MAX_REGISTRY_BYTES,
    alias_table,
    filter_entries,
    parse_registry,
)
from ledmatrix_mqtt.errors import (
    InvalidPayload,
    LedMatrixError,
    NotFound,
    RegistryUnavailable,
)
from ledmatrix_mqtt.store.cache import TtlCache
from ledmatrix_mqtt.store.github_info import GithubInfo, LookupFailed, NeedsFetch
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.http_factory import make_http_client
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.lookup_pool import LookupPool
from ledmatrix_mqtt.store.registry_copy import (
    load_registry_copy,
    save_registry_copy,
)

__all__ = ["RegistryClient", "make_http_client"]

_LOG = logging.getLogger(__name__)

MAX_ENRICH_WORKERS = 8
STALE_RESOLVE_MAX_AGE = 7 * 24 * 3600.0  # a stale copy older than this cannot resolve ids
PERSISTED_REGISTRY = "registry.json"
PERSISTED_ENRICHMENT = "github-info.json"
_REGISTRY_KEY = ("registry",)


_Info = tuple[RepoInfo | None, bool]  # (repo info, its lookup settled: found or absent)
_Lookup = cf.Future[RepoInfo | None]


class RegistryClient:
    """Registry and repo info behind one cache; thread-safe.

    ``clock`` drives cache TTLs and ``fetched_at`` (tests inject a fake clock);
    search deadlines use real monotonic time.
    """

    def __init__(
        self,
        http: HttpClient,
        store_config: StoreConfig,
        layout: StateLayout | None = None,
        clock: Callable[[], float] = time.time,
        *,
        retry_delays: Sequence[float] | None = None,
        max_workers: int = MAX_ENRICH_WORKERS,
    ) -> None:
        self._http = http
        self._config = store_config
        self._layout = layout
        self._clock = clock
        self._retry_delays = None if retry_delays is None else tuple(retry_delays)
        urls = GithubUrls.from_config(store_config.github)
        self._cache = TtlCache(clock=clock)
        self._pool = LookupPool(max_workers, "store-enrich")
        # repo URL -> its lookup in progress; a search during a stall joins it
        self._pending: dict[str, _Lookup] = {}
        self._pending_lock = threading.Lock()
        self._on_enriched: Callable[[], None] | None = None
        saved = layout.cache / PERSISTED_ENRICHMENT if layout is not None else None
        self._github = GithubInfo(
            http, urls, self._cache, clock=clock, retry_delays=self._retry_delays, saved=saved
        )
        self._load_persisted()

    # -- registry -------------------------------------------------------------------
    def fetch_registry(
        self, *, force_refresh: bool = False, raise_on_failure: bool = False
    ) -> Registry:
        """The registry, from cache when fresh. See the module docstring for failure rules.

        Raises ``RegistryUnavailable`` when it cannot be fetched and no copy is held,
        or on any failed refresh when ``raise_on_failure`` is set.
        """
        result = self._cache.get_or_fetch(
            _REGISTRY_KEY, self._download_registry, self._config.registry_ttl, force=force_refresh
        )
        registry: Registry = result.value
        if not result.stale:
            return registry
        if raise_on_failure and result.error is not None:
            raise _unavailable(result.error)
        return replace(registry, stale=True)

    def cached_registry(self) -> Registry | None:
        """The held registry (fresh, stale or loaded from disk) without any network."""
        held = self._cache.peek(_REGISTRY_KEY)
        if held is None:
            return None
        registry: Registry = held.value
        return replace(registry, stale=True) if held.stale else registry

    def resolve(self, plugin_id: str, *, refresh: bool = False) -> RegistryEntry:
        """The registry entry for ``plugin_id`` or one of its aliases.

        ``NotFound`` only when a fresh registry does not list it;
        ``RegistryUnavailable`` when the registry cannot be reached and no copy
        younger than ``STALE_RESOLVE_MAX_AGE`` lists it.
        """
        try:
            registry = self.fetch_registry(force_refresh=refresh, raise_on_failure=True)
        except RegistryUnavailable:
            held = self.cached_registry()
            if held is not None and self._clock() - held.fetched_at < STALE_RESOLVE_MAX_AGE:
                entry = alias_table(held).resolve(plugin_id)
                if entry is not None:
                    return entry
            raise
        entry = alias_table(registry).resolve(plugin_id)
        if entry is None:
            raise NotFound(f"plugin {plugin_id!r} is not in the registry")
        return entry

    def _download_registry(self) -> Registry:
        url = self._config.registry_url
        try:
            resp = self._http.get(
                url, max_bytes=MAX_REGISTRY_BYTES, retry_delays=self._retry_delays
            )
        except LedMatrixError as exc:
            raise _unavailable(exc) from exc
        now = self._clock()
        held = self._cache.peek(_REGISTRY_KEY)
        if resp.not_modified and held is not None:
            previous: Registry = held.value  # 304: same document, new freshness
            return replace(previous, fetched_at=now, stale=False)
        try:
            document = json.loads(resp.body)
            registry = parse_registry(document, source=url, fetched_at=now)
        except (ValueError, InvalidPayload) as exc:
            raise RegistryUnavailable(f"the registry at {url} is not valid: {exc}") from exc
        self._persist(document, now)
        return registry

    # -- persisted copy -----------------------------------------------------------
    def _persist(self, document: Any, fetched_at: float) -> None:
        if self._layout is not None:
            path = self._layout.cache / PERSISTED_REGISTRY
            save_registry_copy(path, self._config.registry_url, document, fetched_at)

    def _load_persisted(self) -> None:
        if self._layout is None:
            return
        path = self._layout.cache / PERSISTED_REGISTRY
        registry = load_registry_copy(path, self._config.registry_url)
        if registry is not None:
            self._cache.seed(
                _REGISTRY_KEY, replace(registry, stale=True), fetched_at=registry.fetched_at
            )

    # -- search -----------------------------------------------------------------------
    def search(
        self,
        *,
        query: str = "",
        category: str = "",
        tags: Sequence[str] = (),
        refresh: bool = False,
        deadline: float | None = None,
    ) -> SearchResult:
        """Registry entries matching the filters, in registry order, enriched from GitHub.

        ``refresh`` re-fetches the registry. ``deadline`` (seconds) bounds the wait
        for enrichment: by default 0 when an enrichment listener is set, else
        ``store_config.search_deadline``. Entries not enriched by then come back with
        ``enriched=False`` and ``complete=False``. With a listener and no wait, no
        lookup starts here: ``enrich`` starts them (the service calls it once the
        answer is sent) and the listener hears when they have landed.
        Raises ``RegistryUnavailable`` when no registry copy is held at all.
        """
        started = time.monotonic()
        budget = self._default_wait() if deadline is None else deadline
        registry = self.fetch_registry(force_refresh=refresh)
        matches = filter_entries(registry.entries, query=query, category=category, tags=tuple(tags))
        repos = {url: self._held(url) for url in dict.fromkeys(e.repo for e in matches if e.repo)}
        missing = [url for url, held in repos.items() if held is None]
        if budget <= 0:  # answer first: ``enrich`` starts the lookups once it is sent
            if self._on_enriched is None:
                self._start(missing)  # no one calls ``enrich``: fill the cache for next time
            return _result(registry, matches, repos)
        lookups, fresh = self._start(missing)
        waited = [f for url, f in lookups.items() if f in fresh and not self._github.is_slow(url)]
        if waited:  # a repo that missed the last deadline is not waited for again
            cf.wait(waited, timeout=max(0.0, budget - (time.monotonic() - started)))
        for url, future in lookups.items():
            done = future.done()  # one snapshot per repo: the entry and its slow mark agree
            repos[url] = _settle(future, url) if done else (None, False)
            if not done:
                self._github.mark_slow(url)
        return _result(registry, matches, repos)

    def set_enrichment_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (on a pool thread) once the lookups a search started have
        all settled, so the caller can republish; with it set, ``search`` does not wait."""
        self._on_enriched = listener

    def enrich(self, entries: Iterable[RegistryEntry]) -> None:
        """Start the lookups ``entries`` lack (joining any in progress); never waits.
        The listener hears when those this call started have all settled."""
        urls = dict.fromkeys(e.repo for e in entries if e.repo)
        self._start([url for url in urls if self._held(url) is None])

    def enrich_cached(self, entries: Sequence[RegistryEntry]) -> tuple[StoreEntry, ...]:
        """``entries`` with whatever enrichment the cache holds; never any network."""
        infos = {url: self._held(url) for url in dict.fromkeys(e.repo for e in entries if e.repo)}
        return tuple(_store_entry(e, infos.get(e.repo)) for e in entries)

    def _held(self, repo_url: str) -> _Info | None:
        """The repo's info from the cache (and whether its lookup settled), or None when
        it must be fetched."""
        try:
            return self._github.repo(repo_url, offline=True, strict=True), True
        except NeedsFetch:
            return None
        except LookupFailed:  # failed recently: backing off, no info
            return None, False

    def _default_wait(self) -> float:
        return 0.0 if self._on_enriched is not None else self._config.search_deadline

    def _tell_when_done(self, futures: Sequence[_Lookup]) -> None:
        listener = self._on_enriched
        if listener is None:
            return
        left = [len(futures)]
        lock = threading.Lock()

        def one_done(_future: _Lookup) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                try:
                    listener()
                except Exception:  # a listener bug must not break the enrichment pool
                    _LOG.exception("enrichment listener failed")

        for future in futures:
            future.add_done_callback(one_done)

    def close(self) -> None:
        """Stop the enrichment pool without waiting for stalled requests, and keep the
        GitHub info fetched so far on disk for the next process (e.g. the offline CLI)."""
        self._pool.close()
        self._github.save()

    def _start(self, repo_urls: Sequence[str]) -> tuple[dict[str, _Lookup], list[_Lookup]]:
        """The lookups of ``repo_urls`` (joining any in progress), and those this call
        started; the listener hears when the started ones have all settled."""
        lookups: dict[str, _Lookup] = {}
        fresh: list[_Lookup] = []
        for url in repo_urls:
            future, new = self._submit(url)
            lookups[url] = future
            if new:
                fresh.append(future)
        if fresh:
            self._tell_when_done(fresh)
        return lookups, fresh

    def _submit(self, repo_url: str) -> tuple[_Lookup, bool]:
        """The lookup of ``repo_url``, and whether this call started it. A search during a
        stall joins the lookup in progress instead of queueing a duplicate behind it."""
        with self._pending_lock:
            future = self._pending.get(repo_url)
            new = future is None
            if future is None:
                future = self._pool.submit(
                    lambda: self._github.repo(repo_url, offline=False, strict=True)
                )
                self._pending[repo_url] = future
        future.add_done_callback(lambda done: self._forget(repo_url, done))
        return future, new

    def _forget(self, repo_url: str, future: _Lookup) -> None:
        with self._pending_lock:
            if self._pending.get(repo_url) is future:
                del self._pending[repo_url]


def _store_entry(entry: RegistryEntry, held: _Info | None) -> StoreEntry:
    info = held[0] if held is not None else None
    return StoreEntry(entry, info, enriched=info is not None)


def _result(
    registry: Registry, matches: Sequence[RegistryEntry], repos: Mapping[str, _Info | None]
) -> SearchResult:
    """``complete`` only when every entry's lookup settled (found or absent)."""
    held = [repos.get(e.repo, (None, True)) if e.repo else (None, True) for e in matches]
    return SearchResult(
        entries=tuple(_store_entry(e, h) for e, h in zip(matches, held, strict=True)),
        fetched_at=registry.fetched_at,
        stale=registry.stale,
        complete=all(h is not None and h[1] for h in held),
    )


def _settle(lookup: _Lookup, repo_url: str) -> _Info:
    """A finished lookup as (info, settled)."""
    error = lookup.exception()
    if error is not None:
        _LOG.warning("GitHub info for %s failed: %r", repo_url, error)
        return None, False
    return lookup.result(), True


def _unavailable(cause: BaseException) -> RegistryUnavailable:
    if isinstance(cause, RegistryUnavailable):
        return cause
    message = cause.message if isinstance(cause, LedMatrixError) else str(cause)
    return RegistryUnavailable(f"the plugin registry cannot be reached: {message}")
