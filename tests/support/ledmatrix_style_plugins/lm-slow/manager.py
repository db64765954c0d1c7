"""update() is slow or hangs ("update_seconds": -1 hangs forever) (test fixture)."""

import threading
import time

from src.plugin_system.base_plugin import BasePlugin

NEVER = threading.Event()


class SlowPlugin(BasePlugin):
    def __init__(self, plugin_id, config, display_manager, cache_manager, plugin_manager):
        super().__init__(plugin_id, config, display_manager, cache_manager, plugin_manager)
        self.update_seconds = float(config.get("update_seconds", 5))
        self.update_calls = 0
        self.display_calls = 0
        self.in_update = False
        self.overlaps = 0

    def update(self):
        self.update_calls += 1
        self.in_update = True
        try:
            if self.update_seconds < 0:
                NEVER.wait()
            time.sleep(self.update_seconds)
        finally:
            self.in_update = False

    def display(self, force_clear=False):
        if self.in_update:
            self.overlaps += 1
        self.display_calls += 1
        self.display_manager.clear()
        self.display_manager.draw_text("slow", y=2, small_font=True)
        self.display_manager.update_display()
