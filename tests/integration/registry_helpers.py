"""Shared helpers and fixtures for the registry client tests.

Time is a fake clock (TTLs and backoffs are advanced, not waited for); request
counts come from the server's log and ``HttpClient.request_count``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledmatrix_mqtt.core.config_model import GithubConfig, StoreConfig
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


@pytest.fixture
def alpha_client(fake_github: FakeGitHub, make_client: ClientFactory) -> RegistryClient:
    """A client that has fetched a registry listing ``alpha`` once."""
    publish(fake_github, "alpha")
    client = make_client()
    client.fetch_registry()
    return client


def http_requests(client: RegistryClient) -> int:
    return client._http.request_count


# -- registry cache --------------------------------------------------------------------------
