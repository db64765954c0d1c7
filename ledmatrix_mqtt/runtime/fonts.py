"""Bitmap fonts shipped in ``ledmatrix_mqtt/fonts`` (X11 misc-fixed, public domain).

FreeType reads the gzip-compressed PCF files directly; the size passed to
``ImageFont.truetype`` must equal the strike. Drawing uses ``fontmode "1"``
so LEDs get no anti-aliased fringe.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"

# name -> (file, strike size in px)
BITMAP_FONTS: dict[str, tuple[str, int]] = {
    "4x6": ("4x6.pcf.gz", 6),
    "5x7": ("5x7.pcf.gz", 7),
    "6x10": ("6x10.pcf.gz", 10),
    "6x13B": ("6x13B.pcf.gz", 13),
    "9x18B": ("9x18B.pcf.gz", 18),
}

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=32)
def load(name: str) -> ImageFont.FreeTypeFont:
    """The named bitmap font; ``KeyError`` for an unknown name."""
    file, size = BITMAP_FONTS[name]
    return ImageFont.truetype(str(FONT_DIR / file), size)


def crisp_draw(image: Image.Image) -> ImageDraw.ImageDraw:
    """An ``ImageDraw`` with anti-aliasing off (LED pixels are on or off)."""
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    return draw


def text_width(text: str, font: Font) -> int:
    return int(font.getlength(text))


def font_height(font: Font) -> int:
    """Line height of a font: ascent + descent for FreeType fonts, bbox otherwise."""
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return int(ascent + descent)
    box = font.getbbox("Ag")
    return int(box[3] - box[1])


SCROLL_GAP_PX = 16  # blank run between the end of a scrolling text and its next pass


def scroll_x(panel_width: int, text_width: int, elapsed: float, speed: float) -> int:
    """Left edge of a text scrolling right to left at ``speed`` px/s, ``elapsed`` s in.

    The text enters at the right edge, leaves on the left, and after a gap of
    ``SCROLL_GAP_PX`` enters again; one pass takes ``scroll_period`` seconds.
    """
    travel = text_width + SCROLL_GAP_PX + panel_width
    return panel_width - int(elapsed * speed) % travel


def scroll_period(panel_width: int, text_width: int, speed: float) -> float:
    """Seconds one full pass of ``scroll_x`` takes."""
    return (text_width + SCROLL_GAP_PX + panel_width) / speed


def fit_font(text: str, max_width: int, max_height: int, names: tuple[str, ...]) -> str:
    """The first font in ``names`` (largest first) in which ``text`` fits the box."""
    for name in names:
        font = load(name)
        if text_width(text, font) <= max_width and font_height(font) <= max_height:
            return name
    return names[-1]
