"""Prints endlessly: a background thread floods stdout/stderr, display() prints too."""

import sys
import threading

from src.plugin_system.base_plugin import BasePlugin

STARTED = threading.Event()


def _flood():
    line = "x" * 200
    while True:
        print(line)
        print(line, file=sys.stderr)


class PrinterPlugin(BasePlugin):
    def update(self):
        if not STARTED.is_set():
            STARTED.set()
            threading.Thread(target=_flood, daemon=True).start()

    def display(self, force_clear=False):
        for _ in range(200):
            print("rendering", force_clear)
        self.display_manager.clear()
        self.display_manager.draw_text("print", x=1, y=1)
        self.display_manager.update_display()
