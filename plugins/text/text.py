"""Built-in text: the message set through ``DisplayController.set_text`` (MQTT / Home Assistant).

Static and centred when it fits the panel; otherwise it scrolls right to left
at ``speed`` px/s, and only then asks for a higher frame rate.
"""

from __future__ import annotations

from ledmatrix_mqtt.runtime import fonts
from ledmatrix_mqtt.runtime.plugin_api import PluginHost, RenderContext


class TextPlugin:
    def __init__(self, host: PluginHost) -> None:
        self.host = host
        cfg = host.config
        self.default_text = str(cfg.get("default_text", ""))
        self.speed = float(cfg.get("speed", 30))
        self.scroll_fps = float(cfg.get("fps", 30))
        self.color = tuple(cfg.get("color", (255, 255, 255)))
        self.font = fonts.load("6x13B" if host.height >= 16 else "5x7")

    def message(self) -> str:
        return " ".join((self.host.text() or self.default_text).split())

    def _fits(self, text: str) -> bool:
        return fonts.text_width(text, self.font) <= self.host.width

    @property
    def fps(self) -> float:
        text = self.message()
        return 1.0 if not text or self._fits(text) else self.scroll_fps

    def render(self, ctx: RenderContext) -> bool | None:
        text = self.message()
        if not text:
            return False  # nothing to say: let the rotation move on
        draw = ctx.draw()
        width = fonts.text_width(text, self.font)
        y = (ctx.height - fonts.font_height(self.font)) // 2
        if width <= ctx.width:
            x = (ctx.width - width) // 2
        else:
            x = fonts.scroll_x(ctx.width, width, ctx.elapsed, self.speed)
        draw.text((x, y), text, font=self.font, fill=self.color)
        return None
