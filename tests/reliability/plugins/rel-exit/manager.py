"""Calls os._exit(3) where its config says: "init", "update" or "display"."""

import os
from os import _exit

from src.plugin_system.base_plugin import BasePlugin


class ExitPlugin(BasePlugin):
    def __init__(self, plugin_id, config, display_manager, cache_manager, plugin_manager):
        super().__init__(plugin_id, config, display_manager, cache_manager, plugin_manager)
        self.where = config.get("where", "update")
        if self.where == "init":
            os._exit(3)

    def update(self):
        if self.where == "update":
            _exit(3)  # the name imported before the call: guarded all the same

    def display(self, force_clear=False):
        if self.where == "display":
            os._exit(3)
        self.display_manager.draw_text("alive", x=1, y=1)
        self.display_manager.update_display()
