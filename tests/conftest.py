"""Shared fixtures: the fake GitHub server and a real mosquitto broker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    server = FakeGitHub().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs the CLI in this process (``main([...])``) installs the service's
    log handler on that test's captured stderr; later tests must not log into it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


collect_ignore = ["ha"]  # Home Assistant suite: own Python 3.13 venv, run by scripts/test-ha
