"""Imports its sibling utils.py (test fixture for LEDMatrix #237)."""

import utils
from src.plugin_system.base_plugin import BasePlugin

from . import utils as relative_utils


class UtilsPlugin(BasePlugin):
    def update(self):
        pass

    def who(self):
        assert relative_utils is utils
        return utils.WHO

    def display(self, force_clear=False):
        self.display_manager.clear()
        self.display_manager.draw.rectangle((0, 0, 3, 3), fill=utils.colour())
        self.display_manager.update_display()
