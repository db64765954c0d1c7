"""Turn a ``PluginSpec`` into a ``LoadedPlugin``, or a typed error naming what failed.

Steps: resolve the config against the schema, import the entry module in the
plugin's private namespace, find the class, construct it (native: ``Cls(host)``;
LEDMatrix: ``Cls(plugin_id, config, display_manager, cache_manager,
plugin_manager)``), then ``validate_config()``/``on_enable()`` for LEDMatrix
plugins. Any failure releases the plugin's modules and raises:
``ConfigError`` (bad config), ``InvalidManifest`` (bad schema, missing entry
file or class), ``DependencyFailed`` (an import failed) or ``InternalError``
(the plugin's own code raised).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledmatrix_mqtt.errors import (
    ConfigError,
    DependencyFailed,
    InternalError,
    InvalidManifest,
    LedMatrixError,
)
from ledmatrix_mqtt.lazy import Lazy
from ledmatrix_mqtt.runtime import guard
from ledmatrix_mqtt.runtime.display_surface import DisplaySurface
from ledmatrix_mqtt.runtime.imports import PluginModules
from ledmatrix_mqtt.runtime.loaded import (
    PLUGIN_ERRORS,
    LoadedLedMatrix,
    LoadedNative,
    LoadedPlugin,
)
from ledmatrix_mqtt.runtime.plugin_api import PluginHost
from ledmatrix_mqtt.runtime.plugin_config import plugin_secrets, resolve_config
from ledmatrix_mqtt.runtime.spec import PluginSpec

if TYPE_CHECKING:  # the LEDMatrix services load with the first LEDMatrix-style plugin
    from ledmatrix_mqtt.runtime.compat.services import FontResolver

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadEnvironment:
    """Everything plugins are constructed with, shared by all loads of one controller."""

    width: int
    height: int
    device_name: str
    timezone: str
    state_dir: Path
    main_config: Mapping[str, Any] = field(default_factory=dict)
    service_info: Callable[[], Mapping[str, Any]] = field(default=lambda: {})
    text: Callable[[], str] = field(default=lambda: "")
    fonts: Lazy[FontResolver] = field(default_factory=lambda: Lazy(_font_resolver))


def _font_resolver() -> FontResolver:
    from ledmatrix_mqtt.runtime.compat.services import FontResolver  # LEDMatrix plugins only

    return FontResolver()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _import_class(spec: PluginSpec, modules: PluginModules) -> type:
    entry = spec.path / spec.manifest.entry_point
    if not entry.is_file():
        raise InvalidManifest(f"entry point {spec.manifest.entry_point} not found")
    try:
        module = modules.import_entry(spec.manifest.entry_point)
    except ImportError as exc:
        raise DependencyFailed(f"import failed: {_describe(exc)}") from exc
    except PLUGIN_ERRORS as exc:
        raise InternalError(f"module raised on import: {_describe(exc)}") from exc
    cls = getattr(module, spec.manifest.class_name, None)
    if not isinstance(cls, type):
        raise InvalidManifest(
            f"class {spec.manifest.class_name} not found in {spec.manifest.entry_point}"
        )
    return cls


def _construct(spec: PluginSpec, cls: type, config: dict[str, Any], env: LoadEnvironment) -> Any:
    data_dir = env.state_dir / "cache" / "runtime" / spec.id
    if spec.manifest.api == "native":
        host = PluginHost(
            plugin_id=spec.id, config=config, width=env.width, height=env.height,
            device_name=env.device_name, timezone=env.timezone, data_dir=data_dir,
            logger=logging.getLogger(f"plugin.{spec.id}"),
            service_info=env.service_info, text=env.text,
        )  # fmt: skip
        return cls(host), None
    # the LEDMatrix services (and the font stack) load with the first plugin that needs them
    from ledmatrix_mqtt.runtime.cache import PluginCache
    from ledmatrix_mqtt.runtime.compat.services import ConfigView, PluginManagerView

    config_view = ConfigView(env.main_config, env.timezone)
    cache = PluginCache(data_dir, config_view)
    surface = DisplaySurface(env.width, env.height)
    manager = PluginManagerView(config_view, env.fonts.get(), cache)
    return cls(spec.id, dict(config), surface, cache, manager), surface


def load_plugin(spec: PluginSpec, env: LoadEnvironment) -> LoadedPlugin:
    """Load ``spec``; raises a ``LedMatrixError`` subclass (see module doc) on failure."""
    guard.install()
    config = resolve_config(spec.path, spec.id, spec.config)
    modules = PluginModules(spec.id, spec.path, plugin_secrets(spec.path, config))
    try:
        cls = _import_class(spec, modules)
        try:
            instance, surface = _construct(spec, cls, config, env)
        except PLUGIN_ERRORS as exc:
            raise InternalError(f"constructor raised: {_describe(exc)}") from exc
        if surface is None:
            return LoadedNative(spec, instance, modules, config, (env.width, env.height))
        _check_ledmatrix(instance)
        return LoadedLedMatrix(spec, instance, modules, config, surface)
    except LedMatrixError:
        modules.release()
        raise
    except PLUGIN_ERRORS as exc:
        modules.release()
        raise InternalError(f"plugin failed to load: {_describe(exc)}") from exc


def _check_ledmatrix(instance: Any) -> None:
    if not callable(getattr(instance, "display", None)):
        raise InvalidManifest("plugin class has no display() method")
    validate = getattr(instance, "validate_config", None)
    if callable(validate) and validate() is False:
        raise ConfigError("the plugin's validate_config() rejected its config")
    if getattr(instance, "enabled", True):
        hook = getattr(instance, "on_enable", None)
        if callable(hook):
            hook()
