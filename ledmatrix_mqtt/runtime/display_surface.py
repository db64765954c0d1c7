"""The display manager surface LEDMatrix plugins draw on.

Each LEDMatrix-style plugin gets its own surface (LEDMatrix used one process
singleton). Plugins draw on ``image``/``draw`` and call ``update_display()``,
which commits a copy of the frame and hands it to the render loop's sink; the
surface itself never touches hardware.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw

from ledmatrix_mqtt.runtime import fonts

FrameSink = Callable[[Image.Image], None]
WHITE = (255, 255, 255)


class MatrixInfo:
    """Stands in for ``display_manager.matrix``: plugins read ``width``/``height`` from it."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.brightness = 100


class DisplaySurface:
    """LEDMatrix's ``DisplayManager`` API, backed by a Pillow image of the panel size."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.matrix = MatrixInfo(width, height)
        self._image = Image.new("RGB", (width, height), (0, 0, 0))
        self.draw: ImageDraw.ImageDraw = fonts.crisp_draw(self._image)
        self.regular_font = fonts.load("6x10")
        self.small_font = fonts.load("5x7")
        self.extra_small_font = fonts.load("4x6")
        self.calendar_font = fonts.load("5x7")
        self.font = self.regular_font
        self.is_scrolling = False
        self._lock = threading.Lock()
        self._committed: Image.Image | None = None
        self._commits = 0
        self.sink: FrameSink | None = None

    @property
    def image(self) -> Image.Image:
        """The canvas. Assigning a new image (LEDMatrix plugins compose on their own
        canvas and hand it over) rebinds ``draw`` too, so ``draw_text`` and friends
        draw on what will be committed."""
        return self._image

    @image.setter
    def image(self, value: Image.Image) -> None:
        self._image = value
        self.draw = fonts.crisp_draw(value)

    def clear(self) -> None:
        """Blank the canvas (in place, so plugins holding ``image`` keep a valid object)."""
        if self.image.size == (self.width, self.height) and self.image.mode == "RGB":
            self.image.paste((0, 0, 0), (0, 0, self.width, self.height))
        else:
            self.image = Image.new("RGB", (self.width, self.height), (0, 0, 0))
        self.draw = fonts.crisp_draw(self.image)

    def update_display(self) -> None:
        """Commit the current canvas as this plugin's frame."""
        frame = self.image.convert("RGB") if self.image.mode != "RGB" else self.image.copy()
        if frame.size != (self.width, self.height):
            canvas = Image.new("RGB", (self.width, self.height), (0, 0, 0))
            canvas.paste(frame, (0, 0))
            frame = canvas
        with self._lock:
            self._committed = frame
            self._commits += 1
            sink = self.sink
        if sink is not None:
            sink(frame)

    def draw_text(
        self,
        text: str,
        x: int | None = None,
        y: int | None = None,
        color: tuple[int, int, int] = WHITE,
        small_font: bool = False,
        font: Any = None,
        centered: bool = False,
    ) -> None:
        """Draw ``text``; ``x=None`` or ``centered`` centres it horizontally, ``y=None`` is 0."""
        current = font or (self.small_font if small_font else self.regular_font)
        if x is None or centered:
            x = (self.width - self.get_text_width(text, current)) // 2
        self.draw.text((x, 0 if y is None else y), text, font=current, fill=color)

    def get_text_width(self, text: str, font: Any) -> int:
        return fonts.text_width(text, font or self.regular_font)

    def get_font_height(self, font: Any) -> int:
        return fonts.font_height(font or self.regular_font)

    def set_scrolling_state(self, is_scrolling: bool) -> None:
        """Plugins flag scrolling; the render loop then runs this plugin at high fps."""
        self.is_scrolling = bool(is_scrolling)

    def defer_update(self, update_func: Callable[[], Any], priority: int = 0) -> None:
        """LEDMatrix defers work while scrolling; here it simply runs now."""
        update_func()

    def process_deferred_updates(self) -> None:
        """Nothing is ever deferred (see ``defer_update``)."""

    def take_commit(self) -> tuple[int, Image.Image | None]:
        """The number of commits so far and the last committed frame."""
        with self._lock:
            return self._commits, self._committed
