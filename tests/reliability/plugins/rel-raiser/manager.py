"""Raises from update() and display() every time (reliability fixture)."""

from src.plugin_system.base_plugin import BasePlugin


class RaiserPlugin(BasePlugin):
    def update(self):
        raise RuntimeError("update exploded")

    def display(self, force_clear=False):
        raise ValueError("display exploded")
