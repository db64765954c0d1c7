"""FrameStore: what the panel shows and what the store reports never disagree."""

from __future__ import annotations

import threading

from PIL import Image

from ledmatrix_mqtt.runtime.frames import FrameStore


class SlowFirstShow:
    """A backend whose first ``show`` blocks until released (a slow SwapOnVSync)."""

    name = "slow"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.shown: list[Image.Image] = []

    def show(self, image: Image.Image) -> None:
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(5)
        self.shown.append(image)

    def set_brightness(self, percent: int) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


def test_concurrent_pushes_reach_the_panel_in_the_order_they_were_recorded() -> None:
    """A late update_display() of a timed-out LEDMatrix plugin pushes from the watchdog
    thread while the render thread pushes the next plugin: the older frame reached the
    panel last, the store recorded the newer one, and dedup then kept the panel wrong."""
    backend = SlowFirstShow()
    store = FrameStore(backend, 4, 2)
    red, blue = Image.new("RGB", (4, 2), "red"), Image.new("RGB", (4, 2), "blue")
    first = threading.Thread(target=store.push, args=(red,))
    first.start()
    assert backend.entered.wait(5)
    second = threading.Thread(target=store.push, args=(blue,))
    second.start()
    second.join(0.2)  # with the fix it waits for the first show to finish
    backend.release.set()
    first.join(5)
    second.join(5)
    assert backend.shown[-1].tobytes() == store.image().tobytes()
    assert not store.push(store.image())  # and the dedup agrees with the panel
