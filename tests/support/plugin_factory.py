"""Build plugin source trees (as ``{relative path: bytes}``) and the state dir they
install into, for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.store.layout import StateLayout
from tests.support.fake_github import FakeGitHub

LEDMATRIX_MANAGER = """\
from src.plugin_system.base_plugin import BasePlugin


class {class_name}(BasePlugin):
    def update(self):
        self.updated = getattr(self, "updated", 0) + 1

    def display(self, force_clear=False):
        if force_clear:
            self.display_manager.clear()
        self.display_manager.draw_text("{text}", x=1, y=1, color=(255, 255, 0))
        self.display_manager.update_display()
"""


def fresh_state(tmp_path: Path) -> StateLayout:
    """``tmp_path/state`` with its folders created, as the service creates them."""
    layout = StateLayout(tmp_path / "state")
    layout.ensure()
    return layout


def manifest(plugin_id: str, version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": plugin_id,
        "name": plugin_id.replace("-", " ").title(),
        "version": version,
        "author": "tests",
        "class_name": "TestPlugin",
        "entry_point": "manager.py",
        "display_modes": [plugin_id],
        "description": f"test plugin {plugin_id}",
    }
    data.update(extra)
    return data


def plugin_files(
    plugin_id: str,
    version: str = "1.0.0",
    *,
    manifest_extra: dict[str, Any] | None = None,
    requirements: str | None = None,
    schema: dict[str, Any] | None = None,
    text: str = "HI",
    extra_files: dict[str, bytes] | None = None,
) -> dict[str, bytes]:
    """A minimal LEDMatrix-style plugin: manifest.json, manager.py, optional extras."""
    data = manifest(plugin_id, version, **(manifest_extra or {}))
    files = {
        "manifest.json": json.dumps(data, indent=2).encode(),
        "manager.py": LEDMATRIX_MANAGER.format(class_name=data["class_name"], text=text).encode(),
    }
    if requirements is not None:
        files["requirements.txt"] = requirements.encode()
    if schema is not None:
        files["config_schema.json"] = json.dumps(schema).encode()
    files.update(extra_files or {})
    return files


def registry_entry(
    fake: Any, plugin_id: str, *, repo: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A registry entry for a plugin published in ``fake`` under owner ``tests``."""
    entry: dict[str, Any] = {
        "id": plugin_id,
        "name": plugin_id.title(),
        "description": f"{plugin_id} plugin",
        "author": "tests",
        "category": "utility",
        "tags": ["test"],
        "repo": fake.repo_url("tests", repo or plugin_id),
        "branch": "main",
        "latest_version": "1.0.0",
        "verified": True,
    }
    entry.update(extra)
    return entry


@dataclass
class PluginShelf:
    """Plugins published in a fake store (repos + registry entries)."""

    fake: FakeGitHub
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def publish(self, plugin_id: str, version: str, *, text: str = "HI") -> None:
        """Publish (or re-publish) ``plugin_id`` at ``version`` drawing ``text``."""
        self.fake.add_repo("tests", plugin_id, plugin_files(plugin_id, version, text=text))
        self.entries[plugin_id] = registry_entry(self.fake, plugin_id, latest_version=version)
        self.fake.set_registry(list(self.entries.values()))
