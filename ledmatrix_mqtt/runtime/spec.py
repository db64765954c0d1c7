"""What the composition root hands the runtime for each plugin: a ``PluginSpec``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.core.manifest import parse_manifest_bytes
from ledmatrix_mqtt.core.models import Manifest, frozen_mapping
from ledmatrix_mqtt.errors import InvalidManifest

BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


@dataclass(frozen=True)
class PluginSpec:
    """One plugin the runtime should know about.

    ``config`` is the ``plugins.<id>`` block of the service config (may be
    empty). ``enabled`` False keeps the plugin listed but not loaded.
    """

    id: str
    path: Path
    manifest: Manifest
    config: Mapping[str, Any]
    enabled: bool
    builtin: bool


def spec_from_folder(
    folder: Path, config: Mapping[str, Any] | None = None, *, builtin: bool = False
) -> PluginSpec:
    """Read ``folder/manifest.json`` into a spec; ``InvalidManifest`` if unreadable.

    ``enabled`` comes from ``config["enabled"]`` (default True).
    """
    try:
        raw = (folder / "manifest.json").read_bytes()
    except OSError as exc:
        raise InvalidManifest(f"cannot read {folder / 'manifest.json'}: {exc.strerror}") from exc
    manifest = parse_manifest_bytes(raw, folder_name=folder.name)
    block = frozen_mapping(config or {})
    return PluginSpec(
        id=manifest.id,
        path=folder,
        manifest=manifest,
        config=block,
        enabled=as_flag(block.get("enabled", True)) is True,
        builtin=builtin,
    )


def builtin_specs(
    configs: Mapping[str, Mapping[str, Any]], root: Path = BUILTIN_PLUGINS_DIR
) -> list[PluginSpec]:
    """Specs for the built-in plugins under ``root`` (``plugins/`` of the repo)."""
    specs = []
    for folder in sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()):
        specs.append(spec_from_folder(folder, configs.get(folder.name), builtin=True))
    return specs
