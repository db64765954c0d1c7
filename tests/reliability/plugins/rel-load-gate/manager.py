"""Its constructor blocks until the file its config names exists (at most a minute)."""

import os
import time

from src.plugin_system.base_plugin import BasePlugin


class LoadGatePlugin(BasePlugin):
    def __init__(self, plugin_id, config, display_manager, cache_manager, plugin_manager):
        super().__init__(plugin_id, config, display_manager, cache_manager, plugin_manager)
        gate = config["release_file"]
        deadline = time.monotonic() + 60.0
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)

    def display(self, force_clear=False):
        self.display_manager.draw_text("released", x=1, y=1)
        self.display_manager.update_display()
