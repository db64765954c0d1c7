"""A scrolling-text plugin written the LEDMatrix way (test fixture)."""

from src.plugin_system.base_plugin import BasePlugin


class TextPlugin(BasePlugin):
    def __init__(self, plugin_id, config, display_manager, cache_manager, plugin_manager):
        super().__init__(plugin_id, config, display_manager, cache_manager, plugin_manager)
        self.enable_scrolling = True
        self.message = config.get("message", "LEDMatrix style scrolling text")
        self.offset = 48  # start with text already on the panel

    def update(self):
        cached = self.cache_manager.get("message", max_age=3600)
        if cached is None:
            self.cache_manager.set("message", self.message)

    def display(self, force_clear=False):
        dm = self.display_manager
        dm.set_scrolling_state(True)
        dm.clear()
        width = dm.get_text_width(self.message, dm.regular_font)
        x = dm.width - (self.offset % (width + dm.width))
        dm.draw.text((x, 10), self.message, font=dm.regular_font, fill=(255, 255, 255))
        self.offset += 1
        dm.update_display()
