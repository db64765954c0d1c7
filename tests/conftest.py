"""Shared fixtures: the fake GitHub server and temp state dirs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_github import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    server = FakeGitHub().start()
    try:
        yield server
    finally:
        server.stop()


collect_ignore = ["ha"]  # Home Assistant suite: own Python 3.13 venv, run by scripts/test-ha
