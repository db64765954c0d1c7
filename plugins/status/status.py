"""Built-in status: device name, IP address, plugin count.

``update()`` (off the render thread) reads ``service_info()``: the count is
``plugin_count`` (every installed plugin, built-ins included, enabled or not:
the number Home Assistant's "Installed plugins" sensor shows; the
DisplayController supplies it), falling back to ``installed_plugins``; the
address is ``ip`` or, without it, the default route's interface (a UDP
"connect" sends nothing).

A line too wide for the panel even in the smallest font (the default name
"LED Matrix raspberrypi" on a 64 px panel) scrolls instead of being cut off;
only then does the plugin ask for more than one frame per second.
"""

from __future__ import annotations

import socket

from ledmatrix_mqtt.runtime import fonts
from ledmatrix_mqtt.runtime.plugin_api import PluginHost, RenderContext

NAME_COLOR = (255, 255, 255)
INFO_COLOR = (120, 200, 120)
SCROLL_SPEED = 20.0  # px/s: readable on a 64 px panel
SCROLL_FPS = 20.0


def local_ip() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
            return str(probe.getsockname()[0])
    except OSError:
        return "no network"


class StatusPlugin:
    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self.ip = ""
        self.installed = -1
        big = host.height >= 24
        self.fonts = (fonts.load("6x10" if big else "5x7"), fonts.load("5x7" if big else "4x6"))

    def update(self) -> None:
        info = self.host.service_info()
        self.installed = int(info.get("plugin_count", info.get("installed_plugins", -1)))
        self.ip = str(info.get("ip") or local_ip())

    def _lines(self) -> list[tuple[str, fonts.Font]]:
        count = "? plugins" if self.installed < 0 else f"{self.installed} plugins"
        out = []
        for i, line in enumerate((self.host.device_name, self.ip or "...", count)):
            font = self.fonts[0 if i == 0 else 1]
            small = fonts.load("4x6")
            if fonts.text_width(line, font) > self.host.width >= fonts.text_width(line, small):
                font = small  # fits when smaller; otherwise it scrolls in its own font
            out.append((line, font))
        return out

    @property
    def fps(self) -> float:
        wide = any(fonts.text_width(t, f) > self.host.width for t, f in self._lines())
        return SCROLL_FPS if wide else 1.0

    def render(self, ctx: RenderContext) -> None:
        draw = ctx.draw()
        y = 1
        for i, (line, font) in enumerate(self._lines()):
            width = fonts.text_width(line, font)
            if width > ctx.width:  # start fully visible, then scroll
                x = fonts.scroll_x(ctx.width, width, ctx.elapsed + ctx.width / SCROLL_SPEED,
                                   SCROLL_SPEED)  # fmt: skip
            else:
                x = (ctx.width - width) // 2
            draw.text((x, y), line, font=font, fill=NAME_COLOR if i == 0 else INFO_COLOR)
            y += fonts.font_height(font) + 1
