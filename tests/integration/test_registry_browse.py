"""A browse with an enrichment listener (the running service) answers from the registry
at once and enriches in the background, against the real FakeGitHub server."""

from __future__ import annotations

import threading
import time

from ledmatrix_mqtt.store.registry_client import RegistryClient
from tests.integration.registry_helpers import ClientFactory, http_requests, publish
from tests.support.fake_github import FakeGitHub
from tests.support.waiting import wait_until

LATENCY = 0.150


def _listening(client: RegistryClient) -> threading.Event:
    landed = threading.Event()
    client.set_enrichment_listener(landed.set)
    return landed


def test_cold_browse_answers_in_one_registry_round_trip_then_enrichment_lands(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    ids = [f"p{i:02d}" for i in range(20)]
    publish(fake_github, *ids)
    fake_github.add_fault(r"^/api/", "latency", LATENCY)
    fake_github.add_fault(r"plugins\.json$", "latency", LATENCY)
    client = make_client()
    landed = _listening(client)
    started = time.monotonic()
    cold = client.search()
    elapsed = time.monotonic() - started
    assert elapsed < 2 * LATENCY + 0.2, f"cold browse took {elapsed:.3f} s"
    assert [e.entry.id for e in cold.entries] == ids
    assert not any(e.enriched for e in cold.entries) and not cold.complete
    assert not fake_github.requests("^/api/"), "no lookup starts before the answer is sent"
    client.enrich(e.entry for e in cold.entries)  # what the service does once it answered
    assert wait_until(landed.is_set, timeout=10), "enrichment never reported"
    assert len(fake_github.requests("^/api/")) == len(ids), "one request per entry"
    summary = client.enrich_cached(client.fetch_registry().entries)
    assert all(e.enriched and e.repo_info is not None for e in summary)
    before = http_requests(client)
    warm = client.search()
    assert warm.complete and all(e.enriched for e in warm.entries)
    assert http_requests(client) == before, "a warm browse makes no request"


def test_browse_with_a_stalled_entry_answers_at_once_every_time(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "alpha", "beta")
    fake_github.add_fault(r"^/api/repos/tests/beta(/|$)", "stall", 5.0)
    client = make_client()
    _listening(client)
    for _ in range(2):
        started = time.monotonic()
        result = client.search()
        client.enrich(e.entry for e in result.entries)
        assert time.monotonic() - started < 0.5
        assert not result.complete
    assert wait_until(lambda: client.search().entries[0].enriched, timeout=10)


def test_without_a_listener_search_still_waits_for_enrichment(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    publish(fake_github, "alpha")
    result = make_client().search()
    assert result.complete and result.entries[0].enriched
