"""Composes on its own canvas and hands it over, as LEDMatrix's countdown plugin does:
``display_manager.image = canvas`` then ``draw_text`` on top (test fixture)."""

from PIL import Image
from src.plugin_system.base_plugin import BasePlugin


class CanvasPlugin(BasePlugin):
    def display(self, force_clear=False):
        dm = self.display_manager
        canvas = Image.new("RGB", (dm.width, dm.height), (0, 0, 90))  # a dark blue backdrop
        dm.image = canvas
        dm.draw_text("12d", x=2, y=2, color=(255, 255, 0))
        dm.update_display()
