"""LEDMatrix-style test plugins (each folder is one plugin) and helpers to make specs."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.runtime.spec import PluginSpec, spec_from_folder

FIXTURES = Path(__file__).resolve().parent


def copy_plugin(plugin_id: str, dest: Path) -> Path:
    """Copy fixture ``plugin_id`` into ``dest/<id>`` (tests never load from the source tree)."""
    target = dest / plugin_id
    shutil.copytree(FIXTURES / plugin_id, target)
    return target


def fixture_spec(plugin_id: str, dest: Path, config: Mapping[str, Any] | None = None) -> PluginSpec:
    folder = dest / plugin_id
    if not folder.exists():
        copy_plugin(plugin_id, dest)
    return spec_from_folder(folder, config or {})
