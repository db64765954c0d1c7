"""PNG files of panel frames: 8-bit RGB, no filtering, zlib level 6.

The frames are a few kilopixels of flat colour, which deflate packs as well as
Pillow's adaptive filters do (within a few bytes at 64x32 to 192x64) in about
half the time. Pillow's own PNG writer is not used because its first call
registers every common image format (BMP, GIF, JPEG with TIFF, PPM, PNG: 17
modules, 1.1 MiB resident and ~15 ms of start-up CPU) that the service never
writes.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGB_8BIT = struct.pack(
    ">BBBBB", 8, 2, 0, 0, 0
)  # depth, colour type RGB, deflate, filter, no interlace


def encode_png(image: Image.Image) -> bytes:
    """``image`` as a PNG file (converted to RGB first when it is in another mode)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    pixels = rgb.tobytes()
    stride = width * 3
    rows = b"".join(  # each scanline starts with its filter type: 0, none
        b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height)
    )
    header = struct.pack(">II", width, height) + _RGB_8BIT
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
