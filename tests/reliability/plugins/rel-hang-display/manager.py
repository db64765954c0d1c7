"""display() blocks for 8 s, longer than the test window (reliability fixture).

Bounded only so the test's teardown does not wait on it for long."""

import threading

from src.plugin_system.base_plugin import BasePlugin

NEVER = threading.Event()


class HangDisplayPlugin(BasePlugin):
    def update(self):
        pass

    def display(self, force_clear=False):
        NEVER.wait(8)
