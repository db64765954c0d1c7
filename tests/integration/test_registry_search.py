"""Store search against the real FakeGitHub server: filters, enrichment, deadlines."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.core.models import RepoInfo
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.registry_client import RegistryClient, make_http_client
from tests.integration.registry_helpers import (
    REGISTRY,
    START,
    ClientFactory,
    FakeClock,
    http_requests,
    publish,
    store_config,
)
from tests.support.fake_github import PUSHED_AT, FakeGitHub
from tests.support.plugin_factory import fresh_state, plugin_files, registry_entry
from tests.support.waiting import wait_until


def test_search_filters_before_enrichment(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """39ccdcf0: store browse fired 30-45 serial GitHub requests; filtering comes first."""
    publish(fake_github, "alpha", "beta", "gamma")
    entries = [
        registry_entry(fake_github, "alpha", category="sports", tags=["nfl"]),
        registry_entry(fake_github, "beta", category="weather", tags=["rain"]),
        registry_entry(fake_github, "gamma", category="sports", tags=["nhl"]),
    ]
    fake_github.set_registry(entries)
    client = make_client()
    result = client.search(category="sports", tags=["nhl"])
    assert [e.entry.id for e in result.entries] == ["gamma"]
    assert result.entries[0].enriched and result.complete
    assert fake_github.requests("/api/") == ["/api/repos/tests/gamma"]  # one per repo
    before = http_requests(client)
    empty = client.search(query="no such thing")
    assert empty.entries == () and empty.complete
    assert http_requests(client) == before, "an empty result makes no request"


def test_search_keeps_registry_order(fake_github: FakeGitHub, make_client: ClientFactory) -> None:
    ids = [f"p{i:02d}" for i in range(12)]
    publish(fake_github, *ids)
    fake_github.add_fault(r"/api/repos/tests/p00", "latency", 0.3)
    fake_github.add_fault(r"/api/repos/tests/p01", "latency", 0.2)
    result = make_client().search(deadline=10)
    assert [e.entry.id for e in result.entries] == ids
    assert all(e.enriched for e in result.entries) and result.complete
    assert result.entries[0].repo_info is not None and result.entries[0].repo_info.stars == 3
    assert result.entries[0].repo_info.pushed_at == PUSHED_AT


class ConcurrencyGitHub(FakeGitHub):
    """FakeGitHub that records the peak number of API requests served at once."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    def _handle(self, h: Any) -> None:
        if not h.path.startswith("/api/"):
            return super()._handle(h)
        with self._count_lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            return super()._handle(h)
        finally:
            with self._count_lock:
                self.active -= 1


def test_search_parallelism_is_bounded(clock: FakeClock) -> None:
    fake = ConcurrencyGitHub().start()
    try:
        ids = [f"p{i:02d}" for i in range(24)]
        publish(fake, *ids)
        fake.add_fault(r"/api/", "latency", 0.1)
        cfg = store_config(fake)
        client = RegistryClient(make_http_client(cfg), cfg, None, clock, max_workers=8)
        result = client.search(deadline=30)
        client.close()
    finally:
        fake.stop()
    assert result.complete and all(e.enriched for e in result.entries)
    assert 1 < fake.peak <= 8  # one request per repository, 8 at a time


def test_search_deadline_with_two_stalled_entries(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    ids = ["fast1", "slow1", "fast2", "slow2", "fast3"]
    fake_github.add_repo("tests", "slow1", plugin_files("slow1"))
    fake_github.add_repo("tests", "slow2", plugin_files("slow2"))
    publish(fake_github, *ids)
    fake_github.add_fault(r"/api/repos/tests/slow1", "stall", 5)
    fake_github.add_fault(r"/api/repos/tests/slow2", "stall", 5)
    result = make_client().search(deadline=1.0)
    assert [e.entry.id for e in result.entries] == ids
    assert not result.complete
    enriched = {e.entry.id: e.enriched for e in result.entries}
    assert enriched == {"fast1": True, "slow1": False, "fast2": True, "slow2": False, "fast3": True}
    slow = result.entries[1]
    assert slow.repo_info is None


def test_late_enrichment_fills_the_cache_for_next_search(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "fast", "slow")
    fake_github.add_fault(r"/api/repos/tests/slow$", "stall", 1.0, times=1)
    client = make_client()
    first = client.search(deadline=0.2)
    assert not first.complete and not first.entries[1].enriched
    assert wait_until(lambda: client.search(deadline=0.05).complete, 15), "late enrichment"
    before = http_requests(client)
    second = client.search()
    assert second.complete and all(e.enriched for e in second.entries)
    assert http_requests(client) == before


def test_warm_search_makes_zero_requests(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    publish(fake_github, *[f"p{i}" for i in range(10)])
    client = make_client()
    cold = client.search()
    assert cold.complete
    clock.advance(600)
    before = http_requests(client)
    warm = client.search()
    assert warm == dataclasses.replace(cold, fetched_at=warm.fetched_at)
    assert http_requests(client) == before


def test_regression_251_monorepo_entries_share_one_request(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """22c495ea (#251): 31 monorepo plugins made 31 identical commit calls (no single-flight);
    the entries of one repository now share its one repo request."""
    fake_github.add_repo("ChuckBuilds", "ledmatrix-plugins", plugin_files("x"))
    mono = fake_github.repo_url("ChuckBuilds", "ledmatrix-plugins")
    fake_github.set_registry(
        [
            registry_entry(fake_github, f"p{i}", plugin_path=f"plugins/p{i}") | {"repo": mono}
            for i in range(12)
        ]
    )
    result = make_client().search()
    assert result.complete and all(e.enriched for e in result.entries)
    assert fake_github.requests("/api/") == ["/api/repos/ChuckBuilds/ledmatrix-plugins"]
    assert {e.repo_info for e in result.entries} == {RepoInfo(0, "main", PUSHED_AT)}


def test_regression_latent_cached_registry_not_mutated_by_callers(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """Upstream 3.2: search appended custom-repo plugins to the cached registry list."""
    publish(fake_github, "alpha", "beta")
    client = make_client()
    registry = client.fetch_registry()
    result = client.search()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.entries[0].entry.name = "hijacked"  # type: ignore[misc]
    with pytest.raises(TypeError):
        registry.entries[0].raw["name"] = "hijacked"  # type: ignore[index]
    with pytest.raises(AttributeError):
        registry.entries.append(registry.entries[0])  # type: ignore[attr-defined]
    again = client.fetch_registry()
    assert again is registry and [e.id for e in again.entries] == ["alpha", "beta"]
    assert again.entries[0].name == "Alpha"


def test_search_on_a_stale_registry_is_marked_stale(
    fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path
) -> None:
    publish(fake_github, "alpha")
    layout = StateLayout(tmp_path / "state")
    make_client(layout=layout).fetch_registry()
    fake_github.add_fault(REGISTRY, "status", 500)
    result = make_client(layout=layout).search()
    assert result.stale and [e.entry.id for e in result.entries] == ["alpha"]
    assert result.fetched_at == START


def test_token_is_sent_only_to_the_api_host(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "alpha")
    registry_on_other_host = fake_github.registry_url.replace("127.0.0.1", "localhost")
    base = store_config(fake_github, registry_url=registry_on_other_host)
    cfg = dataclasses.replace(base, github=dataclasses.replace(base.github, token="s3cret"))
    assert "localhost" in cfg.allowed_hosts()
    client = make_client(config=cfg)
    client.search()
    headers = {path: hdrs for _, path, hdrs in fake_github.log}
    assert "Authorization" not in headers["/raw/ChuckBuilds/ledmatrix-plugins/main/plugins.json"]
    assert headers["/api/repos/tests/alpha"].get("Authorization") == "token s3cret"


def test_warm_search_is_not_complete_while_an_entry_failed_to_enrich(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """A warm browse said ``complete: true`` while an entry's lookups had failed (served from
    the cache's back-off as "no info")."""
    publish(fake_github, "good", "flaky")
    fake_github.add_fault(r"/api/repos/tests/flaky", "status", 500)
    client = make_client()
    cold = client.search()
    assert not cold.complete
    warm = client.search()  # the failure is in back-off: answered from the cache
    assert {e.entry.id: e.enriched for e in warm.entries} == {"good": True, "flaky": False}
    assert not warm.complete


def test_a_stalled_entry_does_not_cost_the_deadline_twice_in_a_row(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "fast", "stuck")
    fake_github.add_fault(r"/api/repos/tests/stuck", "stall", 3)
    client = make_client()
    first = client.search(deadline=1.0)
    assert not first.complete
    started = time.monotonic()
    second = client.search(deadline=1.0)  # the same lookup is still stalled
    assert time.monotonic() - started < 0.5
    assert not second.complete and not second.entries[1].enriched
    assert second.entries[0].enriched


def test_a_new_process_reuses_the_github_info_on_disk(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock, tmp_path: Path
) -> None:
    """``plugins search --offline`` was always cold: one registry GET plus 100 GitHub API
    requests on every run, although the previous run had just fetched them."""
    publish(fake_github, *[f"p{i}" for i in range(10)])
    layout = fresh_state(tmp_path)
    first = make_client(layout=layout)
    cold = first.search()
    assert cold.complete
    first.close()  # what the offline CLI does on exit
    api_before = len(fake_github.requests("^/api/"))
    clock.advance(600)  # within the repo (1 h) and commit (30 min) TTLs
    second = make_client(layout=layout)
    warm = second.search()
    assert warm.complete and [e.repo_info for e in warm.entries] == [
        e.repo_info for e in cold.entries
    ]
    assert len(fake_github.requests("^/api/")) == api_before  # no GitHub API request
    second.close()
    clock.advance(3600)  # past the TTLs: the saved values are not used
    third = make_client(layout=layout)
    third.search()
    assert len(fake_github.requests("^/api/")) > api_before


def test_enrichment_costs_one_request_per_repository_and_none_when_warm(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """Enrichment asked GitHub twice per entry (repo info for the stars, commit info for the
    last commit); the repo answer alone carries the stars and the last push."""
    own = [f"p{i}" for i in range(6)]
    publish(fake_github, *own)
    fake_github.add_repo("ChuckBuilds", "ledmatrix-plugins", plugin_files("x"), stars=9)
    mono = fake_github.repo_url("ChuckBuilds", "ledmatrix-plugins")
    monorepo = [
        registry_entry(fake_github, f"m{i}", plugin_path=f"plugins/m{i}") | {"repo": mono}
        for i in range(6)
    ]
    fake_github.set_registry([registry_entry(fake_github, p) for p in own] + monorepo)
    client = make_client()
    cold = client.search()
    assert cold.complete and all(e.enriched for e in cold.entries)
    assert len(fake_github.requests("^/api/")) == len(own) + 1  # 6 repos + the monorepo
    assert not fake_github.requests("/commits/")
    assert [e.repo_info.stars for e in cold.entries if e.repo_info] == [2] * 6 + [9] * 6
    before = len(fake_github.requests("^/api/"))
    assert client.search().complete
    assert len(fake_github.requests("^/api/")) == before, "a warm browse makes no request"


def test_a_persistently_stalled_repository_costs_the_deadline_once(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    """A repository whose every request stalls (here: 1 s, then the connection is reset)
    cost the full deadline again on the next search once its failed lookup had backed off."""
    publish(fake_github, "fast", "stuck")
    fake_github.add_fault(r"/api/repos/tests/stuck$", "stall", 1.0)
    fake_github.add_fault(r"/api/repos/tests/stuck$", "reset")
    client = make_client(retry_delays=())
    settled = threading.Event()
    client.set_enrichment_listener(settled.set)
    started = time.monotonic()
    first = client.search(deadline=0.5)
    assert time.monotonic() - started >= 0.5, "the first search waits for the deadline"
    assert not first.complete and [e.enriched for e in first.entries] == [True, False]
    assert settled.wait(15), "the stalled lookup never failed"
    clock.advance(61)  # past the failure's back-off: the next search asks GitHub again
    started = time.monotonic()
    second = client.search(deadline=0.5)
    assert time.monotonic() - started < 0.4, "the stalled repository was waited for again"
    assert not second.complete and [e.enriched for e in second.entries] == [True, False]
    stuck = r"/api/repos/tests/stuck$"
    assert wait_until(lambda: len(fake_github.requests(stuck)) == 2, 10), "not asked again"


def test_a_repository_stalled_in_one_cli_run_is_not_waited_for_in_the_next(
    fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path
) -> None:
    """Each ``plugins search`` is a new process: the stall it saw is kept on disk."""
    publish(fake_github, "fast", "stuck")
    fake_github.add_fault(r"/api/repos/tests/stuck$", "stall", 5)
    layout = fresh_state(tmp_path)
    first = make_client(layout=layout)
    assert not first.search(deadline=0.5).complete
    first.close()  # what the CLI does on exit
    second = make_client(layout=layout)
    started = time.monotonic()
    result = second.search(deadline=0.5)
    assert time.monotonic() - started < 0.4, "the next run waited for the stall again"
    assert [e.enriched for e in result.entries] == [True, False] and not result.complete


def test_a_slow_repository_that_answered_is_waited_for_again(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    publish(fake_github, "fast", "slow")
    fake_github.add_fault(r"/api/repos/tests/slow$", "stall", 0.8, times=1)
    client = make_client()
    settled = threading.Event()
    client.set_enrichment_listener(settled.set)
    assert not client.search(deadline=0.2).complete  # missed the deadline: marked slow
    assert settled.wait(10), "the slow lookup never answered"
    clock.advance(3601)  # the repo info expired: both are asked again
    fake_github.add_fault(r"/api/repos/tests/slow$", "latency", 0.3, times=1)
    result = client.search(deadline=10)
    assert result.complete and all(e.enriched for e in result.entries)


def test_github_info_saved_by_an_older_version_is_asked_again(
    fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path
) -> None:
    """A version-1 file (commit info, repo info without the last push) would have shown
    every entry without ``last_updated`` for up to an hour."""
    publish(fake_github, "alpha")
    layout = fresh_state(tmp_path)
    old = {"stars": 5, "default_branch": "main"}
    record = {"key": ["repo", "tests/alpha"], "kind": "repo", "value": old, "at": START}
    (layout.cache / "github-info.json").write_text(json.dumps({"version": 1, "items": [record]}))
    [entry] = make_client(layout=layout).search().entries
    assert entry.repo_info == RepoInfo(5, "main", PUSHED_AT)
    assert fake_github.requests("^/api/") == ["/api/repos/tests/alpha"]
