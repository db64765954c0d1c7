"""Its constructor never returns (a network call without a timeout, say)."""

import threading

from src.plugin_system.base_plugin import BasePlugin

FOREVER = threading.Event()  # never set


class HangInitPlugin(BasePlugin):
    def __init__(self, *args):
        FOREVER.wait()
        super().__init__(*args)  # pragma: no cover - never reached

    def display(self, force_clear=False):  # pragma: no cover - never constructed
        self.display_manager.update_display()
