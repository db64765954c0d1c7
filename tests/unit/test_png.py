"""Frames as PNG files: what Pillow (and so Home Assistant's camera) decodes, byte for byte."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib

import pytest
from PIL import Image, ImageDraw

from ledmatrix_mqtt.runtime.png import SIGNATURE, encode_png


def frame(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    draw.text((1, 1), "12:34", fill=(255, 160, 0))
    draw.rectangle((0, size[1] - 3, size[0] // 2, size[1] - 1), fill=(0, 80, 255))
    image.putpixel((size[0] - 1, 0), (1, 2, 3))
    return image.convert(mode)


@pytest.mark.parametrize("size", [(1, 1), (64, 32), (128, 64), (192, 64), (33, 17)])
def test_an_rgb_frame_decodes_to_the_same_pixels(size: tuple[int, int]) -> None:
    image = frame(size)
    png = encode_png(image)
    decoded = Image.open(io.BytesIO(png))
    decoded.load()
    assert png.startswith(SIGNATURE)
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGB", size)
    assert decoded.tobytes() == image.tobytes()


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "1"])
def test_other_modes_are_written_as_their_rgb_pixels(mode: str) -> None:
    image = frame((64, 32), mode)
    decoded = Image.open(io.BytesIO(encode_png(image)))
    assert decoded.tobytes() == image.convert("RGB").tobytes()


def test_every_chunk_carries_a_correct_crc() -> None:
    png, pos, kinds = encode_png(frame((64, 32))), len(SIGNATURE), []
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(png[pos + 8 + length : pos + 12 + length], "big")
        assert crc == zlib.crc32(kind + data), kind
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_a_frame_is_no_bigger_than_pillows_own_png() -> None:
    image = frame((64, 32))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert len(encode_png(image)) <= len(buffer.getvalue()) + 16


def test_encoding_registers_none_of_pillows_image_formats() -> None:
    probe = (
        "import sys\n"
        "from PIL import Image\n"
        "from ledmatrix_mqtt.runtime.png import encode_png\n"
        "encode_png(Image.new('RGB', (64, 32)))\n"
        "print(sorted(m for m in sys.modules if m.endswith('ImagePlugin')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.strip() == "[]"
