"""Shared set-up for installer integration tests: a state dir, HTTP client and URLs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.models import RegistryEntry
from ledmatrix_mqtt.store.git import GitRunner
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.installer import Installer
from ledmatrix_mqtt.store.layout import StateLayout
from tests.support.fake_github import FakeGitHub
from tests.support.plugin_factory import fresh_state

CORE_VERSION = "2.5.0"


@dataclass
class Env:
    fake: FakeGitHub
    layout: StateLayout
    http: HttpClient
    github: GithubUrls

    def installer(self, **kw: Any) -> Installer:
        kw.setdefault("git", GitRunner(None))
        kw.setdefault("core_version", CORE_VERSION)
        return Installer(self.layout, self.http, self.github, **kw)

    def entry(self, plugin_id: str, repo: str | None = None, **kw: Any) -> RegistryEntry:
        kw.setdefault("branch", "main")
        return RegistryEntry(
            id=plugin_id, name=plugin_id, repo=self.fake.repo_url("tests", repo or plugin_id), **kw
        )

    def version_on_disk(self, plugin_id: str) -> str | None:
        path = self.layout.plugins / plugin_id / "manifest.json"
        if not path.exists():
            return None
        return str(json.loads(path.read_text())["version"])

    def leftovers(self) -> list[str]:
        """Anything left in staging/, rollback/ or journal/ (should be empty when idle)."""
        out: list[str] = []
        for folder in (self.layout.staging, self.layout.rollback, self.layout.journal):
            if folder.exists():
                out += [f"{folder.name}/{p.name}" for p in folder.iterdir()]
        return out


def make_env(tmp_path: Path, fake: FakeGitHub) -> Env:
    layout = fresh_state(tmp_path)
    http = HttpClient(frozenset({"127.0.0.1"}), timeout=5.0, retry_delays=(0.0, 0.0))
    github = GithubUrls(fake.web_url, fake.api_url, fake.raw_url)
    return Env(fake, layout, http, github)
