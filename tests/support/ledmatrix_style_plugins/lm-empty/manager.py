"""display() returns False: no content (test fixture)."""

from src.plugin_system.base_plugin import BasePlugin


class EmptyPlugin(BasePlugin):
    def update(self):
        pass

    def display(self, force_clear=False):
        return False
