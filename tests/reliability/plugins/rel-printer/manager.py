"""Prints endlessly: a background thread floods stdout/stderr, display() prints too.

The flood runs until ``cleanup()`` (unload) so it cannot outlive its test and
flood the rest of the suite's output."""

import sys
import threading
import time

from src.plugin_system.base_plugin import BasePlugin

STARTED = threading.Event()
STOP = threading.Event()


def _flood():
    line = "x" * 200
    until = time.monotonic() + 3.0  # the test window; never outlive the test
    while not STOP.is_set() and time.monotonic() < until:
        print(line)
        print(line, file=sys.stderr)


class PrinterPlugin(BasePlugin):
    def cleanup(self):
        STOP.set()

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
