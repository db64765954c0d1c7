"""update() never returns (reliability fixture); display() draws."""

import threading

from src.plugin_system.base_plugin import BasePlugin

NEVER = threading.Event()


class HangUpdatePlugin(BasePlugin):
    def update(self):
        NEVER.wait()

    def display(self, force_clear=False):
        self.display_manager.clear()
        self.display_manager.draw_text("hang", x=1, y=1)
        self.display_manager.update_display()
