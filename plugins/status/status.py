"""Built-in status: device name, IP address, installed-plugin count.

``update()`` (off the render thread) reads ``service_info()``: keys
``installed_plugins`` (int) and optionally ``ip`` (str); without ``ip`` the
address of the default route's interface is used (a UDP "connect" sends nothing).
"""

from __future__ import annotations

import socket

from ledmatrix_mqtt.runtime import fonts
from ledmatrix_mqtt.runtime.plugin_api import PluginHost, RenderContext

NAME_COLOR = (255, 255, 255)
INFO_COLOR = (120, 200, 120)


def local_ip() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
            return str(probe.getsockname()[0])
    except OSError:
        return "no network"


class StatusPlugin:
    fps = 1.0

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self.ip = ""
        self.installed = -1

    def update(self) -> None:
        info = self.host.service_info()
        self.installed = int(info.get("installed_plugins", -1))
        self.ip = str(info.get("ip") or local_ip())

    def _lines(self) -> list[str]:
        count = "? plugins" if self.installed < 0 else f"{self.installed} plugins"
        return [self.host.device_name, self.ip or "...", count]

    def render(self, ctx: RenderContext) -> None:
        draw = ctx.draw()
        lines = self._lines()
        names = ("6x10", "5x7") if ctx.height >= 24 else ("5x7", "4x6")
        y = 1
        for i, line in enumerate(lines):
            font = fonts.load(names[0] if i == 0 else names[1])
            if fonts.text_width(line, font) > ctx.width:
                font = fonts.load("4x6")
            color = NAME_COLOR if i == 0 else INFO_COLOR
            x = max(0, (ctx.width - fonts.text_width(line, font)) // 2)
            draw.text((x, y), line, font=font, fill=color)
            y += fonts.font_height(font) + 1
