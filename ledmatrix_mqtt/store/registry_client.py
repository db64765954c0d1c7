"""The registry and GitHub metadata, fetched through one ``TtlCache``; store search.

Contracts (each tested in tests/integration/test_registry_client.py or _search.py):

* The registry is cached for ``store_config.registry_ttl`` (15 min). A failed
  refresh serves the held copy marked ``stale`` and backs off 60 s without
  touching the network; with nothing held it raises ``RegistryUnavailable``
  (never an empty registry that looks real). ``raise_on_failure`` raises even
  when a stale copy exists, so callers can tell "unreachable" from "not listed".
* The last good registry is persisted to ``cache/registry.json`` and loaded at
  start as a stale copy, so a device that boots offline still knows it.
* Repo info (1 h) and commit info (30 min, "not found" remembered 30 min) come
  from the GitHub API (``github_info.py``), only for repos under the configured
  web URL; a failure never replaces a good value. Values still within their
  TTLs are saved at ``close()`` for the next process.
* ``search`` filters before any enrichment, enriches in a bounded pool and keeps
  registry order. With an enrichment listener (the running service) it answers
  from the registry and the cache at once and calls the listener when the
  lookups it started have all landed in the cache; without one (the CLI) it
  waits up to a deadline. Late entries come back with ``enriched=False`` while
  the pool keeps filling the cache for next time. It
  is ``complete`` only when every entry's lookups settled (found or absent),
  and it waits only for lookups it started: one stalled since an earlier
  search does not cost the deadline again.
* Every HTTP call has a total deadline and retries (``HttpClient``); the
  registry body is capped at ``MAX_REGISTRY_BYTES`` while it streams.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ledmatrix_mqtt.api import SearchResult
from ledmatrix_mqtt.core.config_model import StoreConfig
from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.models import CommitInfo, Registry, RegistryEntry, StoreEntry
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


_Enriched = tuple[StoreEntry, bool]  # (entry, every lookup settled: found or absent)


class RegistryClient:
    """Registry, repo info and commit info behind one cache; thread-safe.

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
        self._pool = cf.ThreadPoolExecutor(max_workers, thread_name_prefix="store-enrich")
        # commit lookups whose branch is known run beside the repo lookup, on their own
        # pool (never the enrichment pool itself, which would deadlock when full)
        self._commit_pool = cf.ThreadPoolExecutor(max_workers, thread_name_prefix="store-commit")
        # entry -> its enrichment in progress; a search during a stall joins it
        # instead of queueing a duplicate job behind the stalled workers
        self._pending: dict[RegistryEntry, cf.Future[_Enriched]] = {}
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
        for enrichment: by default 0 when an enrichment listener is set (it hears
        when the cache is filled), else ``store_config.search_deadline``. Entries
        not enriched by then come back with ``enriched=False`` and ``complete=False``.
        Raises ``RegistryUnavailable`` when no registry copy is held at all.
        """
        started = time.monotonic()
        budget = self._default_wait() if deadline is None else deadline
        registry = self.fetch_registry(force_refresh=refresh)
        matches = filter_entries(registry.entries, query=query, category=category, tags=tuple(tags))
        held = [self._enrich_from_cache(entry) for entry in matches]
        missing = [entry for entry, h in zip(matches, held, strict=True) if h is None]
        if budget <= 0:  # answer first: the lookups start once the answer is built
            settled = [h or (StoreEntry(e), False) for h, e in zip(held, matches, strict=True)]
            result = _result(registry, settled)
            self._start(missing)
            return result
        futures, fresh = self._start(missing)
        pending = dict(zip(missing, futures, strict=True))
        if fresh:  # a lookup still stalled from an earlier search is not waited for again
            cf.wait(fresh, timeout=max(0.0, budget - (time.monotonic() - started)))
        finished = {f for f in futures if f.done()}  # one snapshot for entries and `complete`
        settled = [
            h or _settle(pending[e], e, finished) for h, e in zip(held, matches, strict=True)
        ]
        return _result(registry, settled)

    def set_enrichment_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (on a pool thread) once the lookups a search started have
        all settled, so the caller can republish; with it set, ``search`` does not wait."""
        self._on_enriched = listener

    def enrich_cached(self, entries: Sequence[RegistryEntry]) -> tuple[StoreEntry, ...]:
        """``entries`` with whatever enrichment the cache holds; never any network."""
        return tuple(
            held[0] if (held := self._enrich_from_cache(e)) is not None else StoreEntry(e)
            for e in entries
        )

    def _default_wait(self) -> float:
        return 0.0 if self._on_enriched is not None else self._config.search_deadline

    def _tell_when_done(self, futures: Sequence[cf.Future[_Enriched]]) -> None:
        listener = self._on_enriched
        if listener is None:
            return
        left = [len(futures)]
        lock = threading.Lock()

        def one_done(_future: cf.Future[_Enriched]) -> None:
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
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._commit_pool.shutdown(wait=False, cancel_futures=True)
        self._github.save()

    def _start(
        self, entries: Sequence[RegistryEntry]
    ) -> tuple[list[cf.Future[_Enriched]], list[cf.Future[_Enriched]]]:
        """The enrichment jobs of ``entries`` (joining any in progress), and those this
        call started; the listener hears when the started ones have all settled."""
        futures, fresh = [], []
        for entry in entries:
            future, new = self._submit(entry)
            futures.append(future)
            if new:
                fresh.append(future)
        if fresh:
            self._tell_when_done(fresh)
        return futures, fresh

    def _submit(self, entry: RegistryEntry) -> tuple[cf.Future[_Enriched], bool]:
        """The enrichment job of ``entry``, and whether this call started it."""
        with self._pending_lock:
            future = self._pending.get(entry)
            new = future is None
            if future is None:
                future = self._pool.submit(self._enrich, entry, False)
                self._pending[entry] = future
        future.add_done_callback(lambda done: self._forget(entry, done))
        return future, new

    def _forget(self, entry: RegistryEntry, future: cf.Future[_Enriched]) -> None:
        with self._pending_lock:
            if self._pending.get(entry) is future:
                del self._pending[entry]

    def _enrich_from_cache(self, entry: RegistryEntry) -> _Enriched | None:
        try:
            return self._enrich(entry, True)
        except NeedsFetch:
            return None

    def _enrich(self, entry: RegistryEntry, offline: bool) -> _Enriched:
        """Repo and commit info (commit branch: registry branch, repo default, main),
        and whether both lookups settled (a failed one leaves the entry incomplete).

        With a registry branch the two lookups run at once; otherwise the commit
        lookup waits for the repo's default branch.
        """
        if not entry.repo:
            return StoreEntry(entry), True
        early: cf.Future[CommitInfo | None] | None = None
        if entry.branch and not offline:
            branches = _branches((entry.branch,))
            early = self._commit_pool.submit(
                self._github.commit, entry.repo, branches, offline=False, strict=True
            )
        failed = False
        repo = commit = None
        try:
            repo = self._github.repo(entry.repo, offline=offline, strict=True)
        except LookupFailed:
            failed = True
        try:
            if early is not None:
                commit = early.result()
            else:
                first = entry.branch or (repo.default_branch if repo else "")
                commit = self._github.commit(
                    entry.repo, _branches((first,)), offline=offline, strict=True
                )
        except LookupFailed:
            failed = True
        enriched = repo is not None or commit is not None
        return StoreEntry(entry, repo, commit, enriched=enriched), not failed


def _result(registry: Registry, settled: Sequence[_Enriched]) -> SearchResult:
    return SearchResult(
        entries=tuple(item for item, _ok in settled),
        fetched_at=registry.fetched_at,
        stale=registry.stale,
        complete=all(ok for _item, ok in settled),
    )


def _settle(
    slot: cf.Future[_Enriched], entry: RegistryEntry, finished: set[cf.Future[_Enriched]]
) -> _Enriched:
    if slot not in finished:
        return StoreEntry(entry), False
    error = slot.exception()
    if error is not None:
        _LOG.warning("enriching %s failed: %r", entry.id, error)
        return StoreEntry(entry), False
    return slot.result()


def _branches(candidates: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(b for b in (*candidates, "main", "master") if b))


def _unavailable(cause: BaseException) -> RegistryUnavailable:
    if isinstance(cause, RegistryUnavailable):
        return cause
    message = cause.message if isinstance(cause, LedMatrixError) else str(cause)
    return RegistryUnavailable(f"the plugin registry cannot be reached: {message}")
