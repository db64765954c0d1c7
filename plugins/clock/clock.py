"""Built-in clock: HH:MM (12 or 24 h) in a timezone, with an optional date line."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledmatrix_mqtt.runtime import fonts
from ledmatrix_mqtt.runtime.plugin_api import PluginHost, RenderContext


class ClockPlugin:
    fps = 1.0  # without next_frame_at: re-rendered each second

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        cfg = host.config
        self.format_24h = bool(cfg.get("format_24h", True))
        self.show_date = bool(cfg.get("show_date", True))
        self.color = tuple(cfg.get("color", (255, 160, 40)))
        self.date_color = tuple(cfg.get("date_color", (90, 140, 255)))
        self.zone: dt.tzinfo | None = None
        if cfg.get("timezone"):
            try:
                self.zone = ZoneInfo(str(cfg["timezone"]))
            except (ZoneInfoNotFoundError, ValueError):
                host.logger.warning("unknown timezone %r; using the device's", cfg["timezone"])

    def next_frame_at(self, now: dt.datetime) -> dt.datetime:
        """The frame shows minutes (and the date, AM/PM): it changes at the next minute."""
        local = now.astimezone(self.zone) if self.zone else now
        return local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)

    def _texts(self, now: dt.datetime) -> tuple[str, str, str]:
        if self.format_24h:
            clock, suffix = now.strftime("%H:%M"), ""
        else:
            clock, suffix = f"{now.hour % 12 or 12}:{now.minute:02d}", now.strftime("%p")
        date = f"{now.strftime('%a')} {now.day} {now.strftime('%b')}" if self.show_date else ""
        return clock, suffix, date

    def render(self, ctx: RenderContext) -> None:
        now = ctx.now.astimezone(self.zone) if self.zone else ctx.now
        clock, suffix, date = self._texts(now)
        draw = ctx.draw()
        big = fonts.load(
            fonts.fit_font(clock, ctx.width - 12, ctx.height - 8, ("9x18B", "6x13B", "6x10"))
        )
        small = fonts.load("5x7")
        date_h = fonts.font_height(small) + 1 if date else 0
        clock_w = fonts.text_width(clock, big)
        suffix_w = fonts.text_width(suffix, small) + 1 if suffix else 0
        x = (ctx.width - clock_w - suffix_w) // 2
        y = max(0, (ctx.height - date_h - fonts.font_height(big)) // 2)
        draw.text((x, y), clock, font=big, fill=self.color)
        if suffix:
            draw.text((x + clock_w + 1, y), suffix, font=small, fill=self.color)
        if date:
            date_w = fonts.text_width(date, small)
            draw.text(
                ((ctx.width - date_w) // 2, ctx.height - date_h),
                date,
                font=small,
                fill=self.date_color,
            )
