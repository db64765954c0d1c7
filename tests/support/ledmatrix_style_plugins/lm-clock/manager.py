"""A clock written the LEDMatrix way (test fixture)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from src.plugin_system.base_plugin import BasePlugin

FROZEN = datetime(2025, 3, 14, 9, 5, 0)


class ClockPlugin(BasePlugin):
    def __init__(self, plugin_id, config, display_manager, cache_manager, plugin_manager):
        super().__init__(plugin_id, config, display_manager, cache_manager, plugin_manager)
        self.tz = ZoneInfo(plugin_manager.config_manager.get_timezone())
        fm = plugin_manager.font_manager
        fm.register_manager_font("lm-clock", "lm-clock.time", "press_start", 8)
        self.time_font = fm.resolve_font(
            element_key="lm-clock.time", family="press_start", size_px=8
        )
        self.date_font = fm.resolve_font(
            element_key="lm-clock.date", family="four_by_six", size_px=6
        )
        self.updates = 0

    def update(self):
        self.updates += 1
        self.cache_manager.set("last_update", {"count": self.updates})

    def display(self, force_clear=False):
        dm = self.display_manager
        if force_clear:
            dm.clear()
        dm.clear()
        now = FROZEN
        color = tuple(self.config["color"])
        dm.draw_text(now.strftime("%H:%M"), y=4, color=color, font=self.time_font, centered=True)
        height = dm.get_font_height(self.time_font)
        dm.draw_text(
            now.strftime("%a %d %b"), y=6 + height, color=(0, 160, 255), font=self.date_font
        )
        dm.draw.rectangle((0, 0, dm.matrix.width - 1, dm.matrix.height - 1), outline=(60, 0, 60))
        dm.update_display()
