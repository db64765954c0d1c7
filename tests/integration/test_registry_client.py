"""RegistryClient fetching, caching and backing off against the real FakeGitHub server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledmatrix_mqtt.core.github_urls import GithubUrls, parse_repo_url
from ledmatrix_mqtt.core.models import RepoInfo
from ledmatrix_mqtt.errors import Forbidden, NotFound, RegistryUnavailable
from ledmatrix_mqtt.store.cache import TtlCache
from ledmatrix_mqtt.store.github_info import GithubInfo
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
from tests.support.plugin_factory import registry_entry


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
    fake_github: FakeGitHub, alpha_client: RegistryClient
) -> None:
    client = alpha_client
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
    fake_github: FakeGitHub, alpha_client: RegistryClient, clock: FakeClock
) -> None:
    """39ccdcf0: without a timestamp bump, a stale fallback re-hit the network on every call."""
    client = alpha_client
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
    fake_github: FakeGitHub, alpha_client: RegistryClient, clock: FakeClock
) -> None:
    client = alpha_client
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


@pytest.fixture
def persisted(fake_github: FakeGitHub, make_client: ClientFactory, tmp_path: Path) -> StateLayout:
    """A state dir holding the registry (listing ``alpha``) an earlier process fetched."""
    publish(fake_github, "alpha")
    layout = StateLayout(tmp_path / "state")
    make_client(layout=layout).fetch_registry()
    return layout


def test_offline_start_uses_the_persisted_registry(
    fake_github: FakeGitHub, make_client: ClientFactory, persisted: StateLayout
) -> None:
    layout = persisted
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
    fake_github: FakeGitHub, make_client: ClientFactory, persisted: StateLayout
) -> None:
    other = store_config(fake_github, registry_url=f"{fake_github.raw_url}/x/y/main/plugins.json")
    assert make_client(config=other, layout=persisted).cached_registry() is None


# -- repo info ------------------------------------------------------------------


@pytest.fixture
def github(fake_github: FakeGitHub, clock: FakeClock) -> GithubInfo:
    """The repo lookups of search enrichment, on their own."""
    cfg = store_config(fake_github)
    urls = GithubUrls.from_config(cfg.github)
    return GithubInfo(make_http_client(cfg), urls, TtlCache(clock=clock), clock=clock,
                      retry_delays=(0.0, 0.0), saved=None)  # fmt: skip


def test_repo_info_is_cached_and_not_overwritten_by_failure(
    fake_github: FakeGitHub, github: GithubInfo, clock: FakeClock
) -> None:
    publish(fake_github, "alpha")
    url = fake_github.repo_url("tests", "alpha")
    info = github.repo(url, offline=False)
    assert info == RepoInfo(stars=5, default_branch="main", pushed_at=PUSHED_AT)
    clock.advance(3599)
    assert github.repo(url, offline=False) is info
    fake_github.add_fault(r"/api/repos/tests/alpha$", "status", 500)
    clock.advance(2)
    assert github.repo(url, offline=False) is info
    # one fetch, then one refresh of 3 attempts (a 500 is retried)
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 1 + 3


def test_regression_309_repo_info_not_overwritten_by_404(
    fake_github: FakeGitHub, github: GithubInfo, clock: FakeClock
) -> None:
    """39ccdcf0: a transient 404 overwrote good cached commit info with None."""
    publish(fake_github, "alpha")
    url = fake_github.repo_url("tests", "alpha")
    good = github.repo(url, offline=False)
    assert good is not None and good.pushed_at == PUSHED_AT
    fake_github.add_fault(r"/api/repos/tests/alpha$", "status", 404)
    clock.advance(3601)
    assert github.repo(url, offline=False) is good
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 2
    clock.advance(30)
    assert github.repo(url, offline=False) is good
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 2, "backing off"


def test_repo_not_found_is_cached_for_30_minutes(
    fake_github: FakeGitHub, github: GithubInfo, clock: FakeClock
) -> None:
    url = fake_github.repo_url("tests", "gone")
    assert github.repo(url, offline=False) is None
    clock.advance(1799)
    assert github.repo(url, offline=False) is None
    assert len(fake_github.requests("/api/repos/tests/gone$")) == 1
    clock.advance(2)
    github.repo(url, offline=False)
    assert len(fake_github.requests("/api/repos/tests/gone$")) == 2


def test_regression_latent_rate_limited_repo_info_is_not_refetched_every_browse(
    fake_github: FakeGitHub, github: GithubInfo, clock: FakeClock
) -> None:
    """Upstream 3.2: repo-info fallback defaults were not cached, so a rate-limited
    device re-requested every repo on every browse."""
    publish(fake_github, "alpha")
    fake_github.add_fault(r"/api/repos/", "status", 403)
    url = fake_github.repo_url("tests", "alpha")
    assert github.repo(url, offline=False) is None
    assert github.repo(url, offline=False) is None
    assert len(fake_github.requests(r"/api/repos/tests/alpha$")) == 1
    clock.advance(61)
    github.repo(url, offline=False)
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


def test_a_registry_over_the_8_mib_cap_is_refused_while_streaming(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """A 12 MB registry was accepted (the cap was never enforced) and held in memory."""
    from ledmatrix_mqtt.core.registry_format import MAX_REGISTRY_BYTES

    path = "/raw/ChuckBuilds/ledmatrix-plugins/main/plugins.json"
    body = b'{"plugins": [], "pad": "' + b"x" * (12 * 1024 * 1024) + b'"}'
    fake_github.extra_routes[path] = (200, body, "application/json")
    fake_github.declared_lengths[path] = 0  # no Content-Length: only the stream shows the size
    client = make_client()
    with pytest.raises(RegistryUnavailable, match=f"more than the {MAX_REGISTRY_BYTES} byte cap"):
        client.fetch_registry()


def test_surrogate_in_github_api_text_is_replaced_so_search_stays_publishable(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "alpha")
    body = b'{"stargazers_count": 1, "pushed_at": "2026\\ud800"}'
    fake_github.extra_routes["/api/repos/tests/alpha"] = (200, body, "application/json")
    [entry] = make_client().search().entries
    assert entry.repo_info is not None and entry.repo_info.pushed_at == "2026\ufffd"
    json.dumps(entry.repo_info.pushed_at, ensure_ascii=False).encode("utf-8")
