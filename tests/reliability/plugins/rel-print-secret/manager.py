"""Debug-prints its API key, plain and URL-encoded, to stdout and stderr."""

import sys
import urllib.parse

from src.plugin_system.base_plugin import BasePlugin


class PrintSecretPlugin(BasePlugin):
    def update(self):
        key = self.config["api_key"]
        print("fetching https://api.example/v1?key=" + key)
        print("retrying", "https://api.example/v1?key=" + urllib.parse.quote(key, safe=""))
        print("giving up on", key, file=sys.stderr)
        sys.stdout.flush()

    def display(self, force_clear=False):
        self.display_manager.draw_text("printed", x=1, y=1)
        self.display_manager.update_display()
