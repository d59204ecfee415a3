"""The test-only PNG decoder, on an image written by hand from the PNG specification."""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.report.png import decode


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + body))
    return struct.pack(">I", len(body)) + kind + body + crc


def _png(colour_type: int, scanlines: bytes, width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(scanlines)) + _chunk(b"IEND", b""))


def test_filters_sub_up_average_paeth() -> None:
    # 2×4 RGBA; row 0 "Sub", row 1 "Up", row 2 "Average", row 3 "Paeth" (ISO/IEC 15948 §9.2).
    rows = bytes([1, 10, 20, 30, 255, 5, 5, 5, 0,     # (10,20,30) (15,25,35)
                  2, 1, 1, 1, 0, 1, 1, 1, 0,           # (11,21,31) (16,26,36)
                  3, 5, 10, 15, 127, 0, 0, 0, 0,       # (10,20,30)+... see below
                  4, 0, 0, 0, 0, 0, 0, 0, 0])
    image = decode(_png(6, rows, 2, 4))
    assert image.pixel(0, 0) == (10, 20, 30) and image.pixel(1, 0) == (15, 25, 35)
    assert image.pixel(0, 1) == (11, 21, 31) and image.pixel(1, 1) == (16, 26, 36)
    # Average: left of x=0 is 0, so (5 + 11 // 2, 10 + 21 // 2, 15 + 31 // 2) = (10, 20, 30);
    # x=1: (0 + (10 + 16) // 2, ...) = (13, 23, 33).
    assert image.pixel(0, 2) == (10, 20, 30) and image.pixel(1, 2) == (13, 23, 33)
    # Paeth with zero deltas copies the best predictor: above for x=0, then left/above.
    assert image.pixel(0, 3) == (10, 20, 30) and image.pixel(1, 3) == (13, 23, 33)


def test_rgb_and_bad_crc() -> None:
    png = _png(2, bytes([0, 1, 2, 3]), 1, 1)
    assert decode(png).pixel(0, 0) == (1, 2, 3)
    with pytest.raises(ValueError, match="bad CRC"):
        decode(png[:-5] + bytes([png[-5] ^ 1]) + png[-4:])
    with pytest.raises(ValueError, match="not a PNG"):
        decode(b"GIF89a")
