"""Drawing notifications with the bundled bitmap fonts (the built-ins' fonts, crisp, no AA).

Text is laid out one character at a time so a character the main font lacks
can come from another bundled font instead of showing the font's "missing"
box: the main font (6x13B, or 5x7 on panels under 16 px), then 6x10, 5x7 and
4x6 (they cover more symbols: ``♥ ☺ ☀``); a few emoji are mapped to such a
symbol first (``❤️`` -> ``♥``, ``🙂`` -> ``☺``); an accented letter no font
has falls back to its base letter; anything else is drawn as ``◆``, one
visible replacement glyph. Every
character is followed by ``LETTER_SPACING`` blank columns beyond the font's
own cell spacing, which keeps the bold font readable on LEDs.
"""

from __future__ import annotations

import functools
import unicodedata

from PIL import Image

from ledmatrix_mqtt.core.notifications import DEFAULT_DURATION_S, Notification
from ledmatrix_mqtt.runtime import fonts

LETTER_SPACING = 1
SCROLL_SPEED = 30.0  # px/s
SCROLL_FPS = 30.0
REPLACEMENT = "\u25c6"  # ◆: present in every bundled font
FALLBACK_FONTS = ("6x10", "5x7", "4x6")
_INVISIBLE = {"\ufe0e", "\ufe0f", "\u200d", "\u200b"}
_EMOJI = {
    "\u2764": "\u2665", "\U0001f499": "\u2665", "\U0001f49a": "\u2665", "\U0001f49b": "\u2665",
    "\U0001f642": "\u263a", "\U0001f600": "\u263a", "\U0001f603": "\u263a",
    "\U0001f604": "\u263a", "\U0001f60a": "\u263a", "\U0001f31e": "\u2600",
    "\u2600": "\u2600", "\U0001f3b5": "\u266a", "\U0001f3b6": "\u266a",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def has_glyph(font_name: str, char: str) -> bool:
    """True if the bundled font draws ``char`` itself (not its "missing" glyph)."""
    font = fonts.load(font_name)

    def mask(c: str) -> tuple[tuple[int, int], bytes]:
        m = font.getmask(c)
        return m.size, bytes(m)

    return mask(char) != mask("\U0010fffd")  # a private-use code point no font has


class NotificationPainter:
    """Lays out and draws notifications for one panel size."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.main = "6x13B" if height >= 16 else "5x7"
        self._font = fonts.load(self.main)

    @functools.lru_cache(maxsize=64)  # noqa: B019 (one painter per controller)
    def layout(self, text: str) -> tuple[tuple[str, str, int], ...]:
        """``(character, font name, advance in px)`` per drawn character, after the
        fallbacks; the advance includes ``LETTER_SPACING``."""
        out: list[tuple[str, str, int]] = []
        for char in text:
            if char in _INVISIBLE:
                continue
            placed = self._place(_EMOJI.get(char, char))
            if placed is None:
                base = unicodedata.normalize("NFKD", char)[:1]
                placed = self._place(base) if base and base != char else None
            shown, name = placed or (REPLACEMENT, self.main)
            advance = int(fonts.load(name).getlength(shown)) + LETTER_SPACING
            out.append((shown, name, advance))
        return tuple(out)

    def _place(self, char: str) -> tuple[str, str] | None:
        for name in (self.main, *FALLBACK_FONTS):
            if has_glyph(name, char) or char == " ":
                return char, name
        return None

    def text_width(self, text: str) -> int:
        return max(0, sum(advance for _c, _f, advance in self.layout(text)) - LETTER_SPACING)

    def scrolls(self, n: Notification) -> bool:
        return self.text_width(n.text) > self.width

    def length(self, n: Notification) -> float | None:
        """Seconds ``n`` stays on the panel, None while held (see ``notifications``)."""
        if n.hold:
            return None
        period = fonts.scroll_period(self.width, self.text_width(n.text), SCROLL_SPEED)
        if self.scrolls(n):
            if n.repeat is not None:
                return n.repeat * period
            return n.duration if n.duration is not None else max(DEFAULT_DURATION_S, period)
        return n.duration if n.duration is not None else DEFAULT_DURATION_S

    def fps(self, n: Notification) -> float:
        return SCROLL_FPS if self.scrolls(n) else 1.0

    def render(self, n: Notification, elapsed: float) -> Image.Image:
        """The frame ``elapsed`` seconds into ``n``: centred, or scrolling right to left."""
        strip = self._strip(n.text, n.color)
        if strip.width > self.width:
            x = fonts.scroll_x(self.width, strip.width, elapsed, SCROLL_SPEED)
        else:
            x = (self.width - strip.width) // 2
        image = Image.new("RGB", (self.width, self.height))
        image.paste(strip, (x, 0))
        return image

    @functools.lru_cache(maxsize=8)  # noqa: B019 (one painter per controller)
    def _strip(self, text: str, color: tuple[int, int, int]) -> Image.Image:
        """The whole text drawn once, panel-high: each frame only pastes it at an offset."""
        strip = Image.new("RGB", (max(1, self.text_width(text)), self.height))
        draw = fonts.crisp_draw(strip)
        ascent, descent = self._font.getmetrics()
        baseline = (self.height - (ascent + descent)) // 2 + ascent
        x = 0
        for char, name, step in self.layout(text):
            draw.text((x, baseline), char, font=fonts.load(name), fill=color, anchor="ls")
            x += step
        return strip
