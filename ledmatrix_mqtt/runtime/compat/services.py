"""The collaborators LEDMatrix plugins are constructed with, besides the display surface.

- ``ConfigView``: ``config_manager`` with ``get_timezone()``/``load_config()``;
- ``FontResolver``: ``plugin_manager.font_manager`` with ``register_manager_font``
  and ``resolve_font`` for the common families;
- ``PluginManagerView``: ``plugin_manager`` (``config_manager``, ``font_manager``,
  ``cache_manager``); other plugins are deliberately not reachable through it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.models import thaw
from ledmatrix_mqtt.runtime import fonts


class ConfigView:
    """Read-only main config as LEDMatrix's ``ConfigManager`` exposes it."""

    def __init__(self, main_config: Mapping[str, Any], timezone: str) -> None:
        self._config = thaw(main_config)
        self._config.setdefault("timezone", timezone)
        self._timezone = timezone

    def get_timezone(self) -> str:
        return self._timezone

    def load_config(self) -> dict[str, Any]:
        """A fresh copy of the main config (a dict with ``timezone``)."""
        return thaw(self._config)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return self.load_config()


# LEDMatrix family -> our bitmap font (press_start is the OFL TTF upstream; 5x7 stands in)
_FAMILY_FONTS = {
    "press_start": "5x7",
    "pressstart2p": "5x7",
    "four_by_six": "4x6",
    "4x6": "4x6",
    "five_by_seven": "5x7",
    "5x7": "5x7",
    "six_by_ten": "6x10",
    "6x10": "6x10",
}


def _font_for_size(size_px: int) -> str:
    if size_px >= 18:
        return "9x18B"
    if size_px >= 13:
        return "6x13B"
    if size_px >= 10:
        return "6x10"
    if size_px >= 7:
        return "5x7"
    return "4x6"


@dataclass(frozen=True)
class FontChoice:
    family: str
    size_px: int
    color: tuple[int, int, int] | None = None


class FontResolver:
    """``font_manager``: maps LEDMatrix font families/sizes onto the shipped bitmap fonts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registered: dict[str, FontChoice] = {}

    def register_manager_font(
        self,
        manager_id: str,
        element_key: str,
        family: str,
        size_px: int,
        color: tuple[int, int, int] | None = None,
        **_: Any,
    ) -> None:
        with self._lock:
            self._registered[element_key] = FontChoice(family, int(size_px), color)

    def resolve_font(
        self,
        element_key: str = "",
        family: str = "",
        size_px: int = 8,
        color: tuple[int, int, int] | None = None,
        **_: Any,
    ) -> fonts.Font:
        """The font registered for ``element_key``, else the one for ``family``/``size_px``."""
        with self._lock:
            choice = self._registered.get(element_key)
        if choice is not None:
            family, size_px = choice.family, choice.size_px
        name = _FAMILY_FONTS.get(family.lower().replace("-", "_")) or _font_for_size(size_px)
        return fonts.load(name)

    def get_font(self, family: str = "", size_px: int = 8, **_: Any) -> fonts.Font:
        return self.resolve_font(family=family, size_px=size_px)


class PluginManagerView:
    """What a plugin sees as ``plugin_manager``."""

    def __init__(self, config_manager: ConfigView, font_manager: FontResolver, cache: Any) -> None:
        self.config_manager = config_manager
        self.font_manager = font_manager
        self.cache_manager = cache
        self.plugins: dict[str, Any] = {}

    def get_plugin(self, plugin_id: str) -> Any:
        """Other plugins are not shared across the runtime boundary: always None."""
        return None
