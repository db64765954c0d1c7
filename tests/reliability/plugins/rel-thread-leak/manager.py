"""Starts threads it never joins, on every update and render (reliability fixture)."""

import threading
import time

from src.plugin_system.base_plugin import BasePlugin

LEAKED = []


def _spin():
    while True:
        time.sleep(0.05)


class ThreadLeakPlugin(BasePlugin):
    def _leak(self, n):
        for _ in range(n):
            thread = threading.Thread(target=_spin, daemon=True)
            thread.start()
            LEAKED.append(thread)

    def update(self):
        self._leak(20)

    def display(self, force_clear=False):
        self._leak(5)
        self.display_manager.clear()
        self.display_manager.draw_text(str(len(LEAKED)), x=1, y=1)
        self.display_manager.update_display()
