"""RegistryClient against the real FakeGitHub HTTP server: one test per behaviour.

Time is a fake clock (TTLs and backoffs are advanced, not waited for); request
counts come from the server's log and ``HttpClient.request_count``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.core.config_model import GithubConfig, StoreConfig
from ledmatrix_mqtt.core.github_urls import GithubUrls, parse_repo_url
from ledmatrix_mqtt.errors import Forbidden, NotFound, RegistryUnavailable
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.registry_client import RegistryClient, make_http_client
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import plugin_files, registry_entry

REGISTRY = r"plugins\.json$"
START = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def store_config(fake: FakeGitHub, **overrides: Any) -> StoreConfig:
    github = GithubConfig(
        web_url=fake.web_url,
        api_url=fake.api_url,
        raw_url=fake.raw_url,
        archive_url=fake.archive_url,
    )
    return dataclasses.replace(
        StoreConfig(registry_url=fake.registry_url, github=github), **overrides
    )


def publish(fake: FakeGitHub, *ids: str, **extra: Any) -> list[dict[str, Any]]:
    """Publish one repo per id under owner ``tests`` and list them in the registry."""
    entries = []
    for plugin_id in ids:
        fake.add_repo("tests", plugin_id, plugin_files(plugin_id), stars=len(plugin_id))
        entries.append(registry_entry(fake, plugin_id, **extra))
    fake.set_registry(entries)
    return entries


ClientFactory = Callable[..., RegistryClient]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(
    fake_github: FakeGitHub, clock: FakeClock, tmp_path: Path
) -> Iterator[ClientFactory]:
    clients: list[RegistryClient] = []

    def factory(
        *, config: StoreConfig | None = None, layout: StateLayout | None = None, **kw: Any
    ) -> RegistryClient:
        cfg = config or store_config(fake_github)
        kw.setdefault("retry_delays", (0.0, 0.0))
        client = RegistryClient(make_http_client(cfg), cfg, layout, clock, **kw)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def http_requests(client: RegistryClient) -> int:
    return client._http.request_count


# -- registry cache --------------------------------------------------------------------------


def test_registry_is_cached_for_15_minutes(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    publish(fake_github, "alpha", "beta")
    client = make_client()
    registry = client.fetch_registry()
    assert [e.id for e in registry.entries] == ["alpha", "beta"]
    assert not registry.stale and registry.fetched_at == START
    clock.advance(899)
    assert client.fetch_registry() is registry
    assert len(fake_github.requests(REGISTRY)) == 1
    clock.advance(2)
    client.fetch_registry()
    assert len(fake_github.requests(REGISTRY)) == 2


def test_force_refresh_goes_to_the_network(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "alpha")
    client = make_client()
    client.fetch_registry()
    publish(fake_github, "alpha", "beta")
    assert client.fetch_registry().get("beta") is None
    refreshed = client.fetch_registry(force_refresh=True)
    assert refreshed.get("beta") is not None
    assert len(fake_github.requests(REGISTRY)) == 2


def test_registry_fetch_retries_5xx_then_succeeds(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "alpha")
    fake_github.add_fault(REGISTRY, "status", 503, times=2)
    registry = make_client().fetch_registry()
    assert registry.get("alpha") is not None and not registry.stale
    assert len(fake_github.requests(REGISTRY)) == 3


def test_regression_309_stale_fallback_backs_off_60s_without_network(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    """39ccdcf0: without a timestamp bump, a stale fallback re-hit the network on every call."""
    publish(fake_github, "alpha")
    client = make_client()
    client.fetch_registry()
    fake_github.add_fault(REGISTRY, "status", 500)
    clock.advance(901)
    before = http_requests(client)
    stale = client.fetch_registry()
    assert stale.stale and stale.get("alpha") is not None
    assert http_requests(client) - before == 3, "three attempts, retrying the 5xx"
    clock.advance(59)
    during = client.fetch_registry()
    assert during.stale
    assert http_requests(client) - before == 3, "no request during the 60 s backoff"
    clock.advance(2)
    client.fetch_registry()
    assert http_requests(client) - before == 6


def test_raise_on_failure_tells_unreachable_from_not_listed(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    publish(fake_github, "alpha")
    client = make_client()
    client.fetch_registry()
    with pytest.raises(NotFound):
        client.resolve("missing")
    fake_github.add_fault(REGISTRY, "reset")
    clock.advance(901)
    with pytest.raises(RegistryUnavailable):
        client.fetch_registry(raise_on_failure=True)
    assert client.fetch_registry().stale, "without raise_on_failure the stale copy answers"
    with pytest.raises(RegistryUnavailable):
        client.resolve("missing")
    assert client.resolve("alpha").id == "alpha", "a recent stale copy may answer positively"


def test_regression_309_registry_failure_without_cache_raises(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """39ccdcf0: an empty-registry fallback on a flaky boot marked every plugin unrecoverable."""
    publish(fake_github, "alpha")
    fake_github.add_fault(REGISTRY, "status", 502)
    client = make_client()
    with pytest.raises(RegistryUnavailable):
        client.fetch_registry()
    with pytest.raises(RegistryUnavailable):
        client.resolve("alpha")
    with pytest.raises(RegistryUnavailable):
        client.search()
    assert client.cached_registry() is None
    assert len(fake_github.requests(REGISTRY)) == 3, "later calls wait out the backoff"


def test_registry_conditional_request_gets_304(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    publish(fake_github, "alpha")
    client = make_client()
    first = client.fetch_registry()
    clock.advance(901)
    second = client.fetch_registry()
    registry_log = [hdrs for _, path, hdrs in fake_github.log if path.endswith("plugins.json")]
    assert len(registry_log) == 2
    assert "If-None-Match" not in registry_log[0]
    assert registry_log[1].get("If-None-Match"), "the refresh must be conditional"
    assert second.entries == first.entries and second.fetched_at == START + 901
    clock.advance(899)
    client.fetch_registry()
    assert len(fake_github.requests(REGISTRY)) == 2, "a 304 renews the 15 min TTL"


def test_registry_from_file_url_makes_no_http_request(
    fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "plugins.json"
    path.write_text(json.dumps({"plugins": [registry_entry(fake_github, "local")]}))
    client = make_client(config=store_config(fake_github, registry_url=path.as_uri()))
    assert client.resolve("local").id == "local"
    assert http_requests(client) == 0


def test_legacy_versions_registry_form(fake_github: FakeGitHub, make_client: ClientFactory) -> None:
    legacy = {
        "id": "oldie",
        "name": "Old",
        "repo": fake_github.repo_url("tests", "oldie"),
        "path": "plugins//oldie/",
        "versions": [
            {"version": "2.1.0", "download_url": f"{fake_github.web_url}/dl/oldie-2.1.0.zip"},
            {"version": "2.0.0", "download_url": f"{fake_github.web_url}/dl/oldie-2.0.0.zip"},
        ],
    }
    fake_github.set_registry([legacy])
    entry = make_client().resolve("oldie")
    assert entry.latest_version == "2.1.0"
    assert entry.download_url.endswith("oldie-2.1.0.zip")
    assert entry.plugin_path == "plugins/oldie"


def test_resolve_through_aliases_exact_id_wins(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """31d607f6 (#439): registry id ``weather`` lives in ``plugins/ledmatrix-weather``."""
    fake_github.set_registry(
        [
            registry_entry(fake_github, "weather", plugin_path="plugins/ledmatrix-weather"),
            registry_entry(fake_github, "clock", plugin_path="plugins/weather"),
        ]
    )
    client = make_client()
    assert client.resolve("ledmatrix-weather").id == "weather"
    assert client.resolve("weather").id == "weather"


def test_offline_start_uses_the_persisted_registry(
    fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path
) -> None:
    publish(fake_github, "alpha")
    layout = StateLayout(tmp_path / "state")
    make_client(layout=layout).fetch_registry()
    assert (layout.cache / "registry.json").is_file()

    fake_github.add_fault(REGISTRY, "status", 503)
    booted = make_client(layout=layout)
    held = booted.cached_registry()
    assert held is not None and held.stale and held.get("alpha") is not None
    assert http_requests(booted) == 0, "cached_registry never touches the network"
    assert booted.fetch_registry().get("alpha") is not None
    assert booted.resolve("alpha").id == "alpha"
    with pytest.raises(RegistryUnavailable):
        booted.resolve("never-listed")


def test_persisted_copy_of_another_registry_is_ignored(
    fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path
) -> None:
    publish(fake_github, "alpha")
    layout = StateLayout(tmp_path / "state")
    make_client(layout=layout).fetch_registry()
    other = store_config(fake_github, registry_url=f"{fake_github.raw_url}/x/y/main/plugins.json")
    assert make_client(config=other, layout=layout).cached_registry() is None


# -- repo and commit info ------------------------------------------------------------------


def test_repo_info_is_cached_and_not_overwritten_by_failure(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    publish(fake_github, "alpha")
    client = make_client()
    url = fake_github.repo_url("tests", "alpha")
    info = client.repo_info(url)
    assert info is not None and info.stars == 5 and info.license == "MIT"
    clock.advance(3599)
    assert client.repo_info(url) is info
    fake_github.add_fault(r"/api/repos/tests/alpha$", "status", 500)
    clock.advance(2)
    assert client.repo_info(url) is info
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 2


def test_regression_309_commit_info_not_overwritten_by_404(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    """39ccdcf0: a transient 404 on every branch overwrote good cached commit info with None."""
    publish(fake_github, "alpha")
    client = make_client()
    url = fake_github.repo_url("tests", "alpha")
    good = client.commit_info(url, ["main"])
    assert good is not None and good.branch == "main" and len(good.sha) == 40
    fake_github.add_fault(r"/api/repos/tests/alpha/commits/", "status", 404)
    clock.advance(1801)
    assert client.commit_info(url, ["main"]) is good
    assert len(fake_github.requests(r"/commits/")) == 3, "tried main then master"
    clock.advance(30)
    assert client.commit_info(url, ["main"]) is good
    assert len(fake_github.requests(r"/commits/")) == 3, "backing off, no network"


def test_commit_not_found_is_cached_for_30_minutes(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    fake_github.add_repo("tests", "empty", {}, branch="gh-pages")
    client = make_client()
    url = fake_github.repo_url("tests", "empty")
    assert client.commit_info(url, ["dev"]) is None
    assert [p.rsplit("/", 1)[1] for p in fake_github.requests("/commits/")] == [
        "dev",
        "main",
        "master",
    ]
    clock.advance(1799)
    assert client.commit_info(url, ["dev"]) is None
    assert len(fake_github.requests("/commits/")) == 3
    clock.advance(2)
    client.commit_info(url, ["dev"])
    assert len(fake_github.requests("/commits/")) == 6


def test_commit_info_tries_branches_in_order_deduplicated(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    fake_github.add_repo("tests", "legacy", plugin_files("legacy"), branch="master")
    info = make_client().commit_info(fake_github.repo_url("tests", "legacy"), ["main", "", "main"])
    assert info is not None and info.branch == "master"
    assert [p.rsplit("/", 1)[1] for p in fake_github.requests("/commits/")] == ["main", "master"]


def test_regression_latent_rate_limited_repo_info_is_not_refetched_every_browse(
    fake_github: FakeGitHub, make_client: ClientFactory, clock: FakeClock
) -> None:
    """Upstream 3.2: repo-info fallback defaults were not cached, so a rate-limited
    device re-requested every repo on every browse."""
    publish(fake_github, "alpha")
    fake_github.add_fault(r"/api/repos/", "status", 403)
    client = make_client()
    url = fake_github.repo_url("tests", "alpha")
    assert client.repo_info(url) is None
    assert client.repo_info(url) is None
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 1
    clock.advance(61)
    client.repo_info(url)
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 2


def test_host_outside_allow_list_is_refused(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    port = fake_github.base.rsplit(":", 1)[1]
    foreign_repo = f"http://localhost:{port}/web/tests/alpha"
    publish(fake_github, "alpha")
    fake_github.set_registry(
        [registry_entry(fake_github, "alpha", repo="alpha") | {"repo": foreign_repo}]
    )
    client = make_client()
    entry = client.resolve("alpha")
    assert entry.repo == foreign_repo
    before = http_requests(client)
    assert client.repo_info(entry.repo) is None, "only the configured GitHub gets API calls"
    result = client.search()
    assert not result.entries[0].enriched
    ref = parse_repo_url(entry.repo)
    assert ref is not None
    gh = GithubUrls(f"http://localhost:{port}/web", fake_github.api_url, fake_github.raw_url)
    with pytest.raises(Forbidden, match="localhost"):
        client._http.get(gh.archive(ref, "main"))
    assert http_requests(client) == before
    assert not fake_github.requests(r"/archive/")


# -- search --------------------------------------------------------------------------------


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
    assert fake_github.requests("/api/") == [
        "/api/repos/tests/gamma",
        "/api/repos/tests/gamma/commits/main",
    ]
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
    assert result.entries[0].commit is not None and result.entries[0].commit.branch == "main"


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
    assert 1 < fake.peak <= 8


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
    assert slow.repo_info is None and slow.commit is None


def test_late_enrichment_fills_the_cache_for_next_search(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "fast", "slow")
    fake_github.add_fault(r"/api/repos/tests/slow$", "stall", 1.0, times=1)
    client = make_client()
    first = client.search(deadline=0.2)
    assert not first.complete and not first.entries[1].enriched
    assert client.drain(timeout=15)
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


def test_regression_251_monorepo_entries_share_one_commit_call(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """22c495ea (#251): 31 monorepo plugins made 31 identical commit calls (no single-flight)."""
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
    assert fake_github.requests("/api/") == [
        "/api/repos/ChuckBuilds/ledmatrix-plugins",
        "/api/repos/ChuckBuilds/ledmatrix-plugins/commits/main",
    ]


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
