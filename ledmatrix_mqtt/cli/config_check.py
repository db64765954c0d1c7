"""``ledmatrix-mqtt config check``: the config file plus every plugin block vs its schema.

At start-up a plugin whose block does not match its ``config_schema.json`` is
not loaded and shows the error in its state (the appliance keeps running);
this command reports all such problems at once, naming file and key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ledmatrix_mqtt.api import PluginRuntimeStatus
from ledmatrix_mqtt.cli.output import plural
from ledmatrix_mqtt.config_editor import ConfigEditor
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.core.models import InstalledPlugin
from ledmatrix_mqtt.errors import ConfigError, InvalidManifest, LedMatrixError
from ledmatrix_mqtt.runtime.plugin_config import resolve_config
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.wiring import BUILTIN_PLUGINS_DIR


def _inventory(config: AppConfig) -> PluginInventory:
    return PluginInventory(
        StateLayout(Path(config.state_dir)),
        BUILTIN_PLUGINS_DIR if BUILTIN_PLUGINS_DIR.is_dir() else None,
        config_blocks=ConfigEditor(config.path).plugin_blocks,
        registry=lambda: None,
    )


def config_problem(config: AppConfig, plugin: InstalledPlugin) -> LedMatrixError | None:
    """Why the service could not load ``plugin`` with its current block (None: it could)."""
    try:
        resolve_config(Path(plugin.path), plugin.id, config.plugin_block(plugin.id))
    except (ConfigError, InvalidManifest) as exc:
        return exc
    return None


def offline_status(
    config: AppConfig, installed: Sequence[InstalledPlugin]
) -> list[PluginRuntimeStatus]:
    """What the service reports for each plugin, worked out without running it.

    Nothing is loaded offline; ``healthy`` and ``error`` are what the service would
    show after loading the same files and config: a disabled plugin is not healthy
    and has no error, a plugin whose block fails its schema shows the same
    ``code: message`` error the runtime shows.
    """
    out = []
    for plugin in installed:
        problem = None if plugin.error or not plugin.enabled else config_problem(config, plugin)
        error = f"{problem.code}: {problem}" if problem else plugin.error  # as the runtime words it
        healthy = plugin.enabled and not error
        out.append(PluginRuntimeStatus(plugin.id, False, healthy, error))
    return out


def plugin_problems(config: AppConfig) -> list[str]:
    """One line per plugin whose block (or manifest/schema) is invalid."""
    problems = []
    for plugin in _inventory(config).list():
        if plugin.error:
            problems.append(f"plugin {plugin.id}: {plugin.error}")
            continue
        problem = config_problem(config, plugin)
        if isinstance(problem, ConfigError):
            problems.append(f"{config.path}: {problem.key}: {problem.message}{_hint(problem)}")
        elif problem is not None:
            problems.append(f"plugin {plugin.id}: {problem.code}: {problem.message}")
    return problems


def _hint(problem: ConfigError) -> str:
    """YAML 1.2 reads on/off/yes/no as words: say so where a schema wanted a boolean."""
    word = problem.message.split(" is not of type", 1)[0].strip("'")
    if "is not of type 'boolean'" in problem.message and as_flag(word) is not None:
        return f" (write {str(as_flag(word)).lower()}: in this file only true/false are booleans)"
    return ""


def run_check(config: AppConfig) -> int:
    problems = plugin_problems(config)
    for line in problems:
        print(line)
    if problems:
        return 2
    print(
        f"{config.path}: OK (device {config.device.id}, state_dir {config.state_dir}, "
        f"{plural(len(config.plugins), 'plugin block')})"
    )
    return 0
