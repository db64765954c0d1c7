"""A sports-scoreboard-like plugin: live content while a game runs (test fixture).

A game "runs" while the file named by the ``game_file`` config key exists;
``has_live_priority()`` is BasePlugin's (the block's ``live_priority``)."""

import os

from src.plugin_system.base_plugin import BasePlugin


class LivePlugin(BasePlugin):
    def __init__(self, plugin_id, config, display_manager, cache_manager, plugin_manager):
        super().__init__(plugin_id, config, display_manager, cache_manager, plugin_manager)
        self.game_file = config.get("game_file", "")
        self.live = False

    def update(self):
        self.live = bool(self.game_file) and os.path.exists(self.game_file)

    def has_live_content(self):
        return self.live

    def get_live_modes(self):
        return ["lm-live-game"]

    def display(self, force_clear=False, display_mode=None):
        dm = self.display_manager
        dm.clear()
        dm.draw_text(
            "LIVE" if display_mode == "lm-live-game" else "TABLE", x=1, y=1, color=(255, 0, 0)
        )
        dm.update_display()
