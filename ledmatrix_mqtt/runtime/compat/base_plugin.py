"""``BasePlugin`` as LEDMatrix plugins expect it (``src/plugin_system/base_plugin.py``).

Constructor, attributes and hooks follow upstream; only the parts plugins
actually call are provided (no Vegas ticker). Live priority follows upstream:
``has_live_priority()`` is the block's ``live_priority`` (default false),
``get_live_modes()`` the display modes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import Enum
from typing import Any


class VegasDisplayMode(Enum):
    """Present so plugins importing it load; the ticker mode itself is not implemented."""

    SCROLL = "scroll"
    FIXED_SEGMENT = "fixed"
    STATIC = "static"


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class BasePlugin:
    """Base class of LEDMatrix plugins. Subclasses implement ``update`` and ``display``."""

    API_VERSION = "1.0.0"

    def __init__(
        self,
        plugin_id: str,
        config: dict[str, Any],
        display_manager: Any,
        cache_manager: Any,
        plugin_manager: Any,
    ) -> None:
        self.plugin_id = plugin_id
        self.config: dict[str, Any] = dict(config or {})
        self.display_manager = display_manager
        self.cache_manager = cache_manager
        self.plugin_manager = plugin_manager
        self.logger = logging.getLogger(f"plugin.{plugin_id}")
        self.enabled: bool = bool(self.config.get("enabled", True))

    def update(self) -> None:
        """Fetch data; subclasses override."""

    def display(self, force_clear: bool = False) -> Any:
        """Draw on ``display_manager.image`` and call ``update_display()``; subclasses override."""
        raise NotImplementedError

    def get_display_duration(self) -> float:
        own = _positive_number(getattr(self, "display_duration", None))
        if own is not None:
            return own
        return _positive_number(self.config.get("display_duration")) or 15.0

    def validate_config(self) -> bool:
        if "enabled" in self.config and not isinstance(self.config["enabled"], bool):
            self.logger.error("'enabled' must be true or false")
            return False
        if "display_duration" in self.config and (
            _positive_number(self.config["display_duration"]) is None
            or isinstance(self.config["display_duration"], str)
        ):
            self.logger.error("'display_duration' must be a positive number")
            return False
        return True

    def cleanup(self) -> None:
        """Release resources; called on unload."""

    def on_config_change(self, new_config: Mapping[str, Any]) -> None:
        self.config = dict(new_config or {})
        self.enabled = bool(self.config.get("enabled", True))

    def on_enable(self) -> None:
        self.enabled = True

    def on_disable(self) -> None:
        self.enabled = False

    def get_info(self) -> dict[str, Any]:
        return {
            "id": self.plugin_id,
            "enabled": self.enabled,
            "config": self.config,
            "api_version": self.API_VERSION,
        }

    def supports_dynamic_duration(self) -> bool:
        return False

    def is_cycle_complete(self) -> bool:
        return True

    def reset_cycle_state(self) -> None:
        """Dynamic durations are not implemented; kept for plugins that call it."""

    def has_live_priority(self) -> bool:
        return bool(self.config.get("live_priority", False))

    def has_live_content(self) -> bool:
        return False

    def get_live_modes(self) -> list[str]:
        modes = getattr(self, "modes", None)
        return list(modes) if isinstance(modes, list | tuple) else []
