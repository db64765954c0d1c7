"""``ledmatrix-mqtt config check``: the config file plus every plugin block vs its schema.

At start-up a plugin whose block does not match its ``config_schema.json`` is
not loaded and shows the error in its state (the appliance keeps running);
this command reports all such problems at once, naming file and key.
"""

from __future__ import annotations

from pathlib import Path

from ledmatrix_mqtt.configfile import ConfigEditor
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.errors import ConfigError, InvalidManifest
from ledmatrix_mqtt.runtime.plugin_config import resolve_config
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.wiring import BUILTIN_PLUGINS_DIR


def plugin_problems(config: AppConfig) -> list[str]:
    """One line per plugin whose block (or manifest/schema) is invalid."""
    inventory = PluginInventory(
        StateLayout(Path(config.state_dir)),
        BUILTIN_PLUGINS_DIR if BUILTIN_PLUGINS_DIR.is_dir() else None,
        config_blocks=ConfigEditor(config.path).plugin_blocks,
        registry=lambda: None,
    )
    problems = []
    for plugin in inventory.list():
        if plugin.error:
            problems.append(f"plugin {plugin.id}: {plugin.error}")
            continue
        try:
            resolve_config(Path(plugin.path), plugin.id, config.plugin_block(plugin.id))
        except ConfigError as exc:
            problems.append(f"{config.path}: {exc.key}: {exc.message}")
        except InvalidManifest as exc:
            problems.append(f"plugin {plugin.id}: {exc.code}: {exc.message}")
    return problems


def run_check(config: AppConfig) -> int:
    problems = plugin_problems(config)
    for line in problems:
        print(line)
    if problems:
        return 2
    print(
        f"{config.path}: OK (device {config.device.id}, state_dir {config.state_dir}, "
        f"{len(config.plugins)} plugin blocks)"
    )
    return 0
