"""Raises in display() (test fixture)."""

from src.plugin_system.base_plugin import BasePlugin


class RaisingPlugin(BasePlugin):
    def update(self):
        pass

    def display(self, force_clear=False):
        raise RuntimeError("display exploded")
