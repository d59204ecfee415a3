"""A minimal PNG decoder (standard library only) for checking browser screenshots.

Handles what Chromium writes: 8-bit RGB or RGBA, not interlaced (PNG spec, ISO/IEC 15948 §11.2.2,
filter method 0 with the five filter types of §9). Returns the pixels as rows of RGB bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGB, 3 bytes a pixel

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        r, g, b = self.rows[y][3 * x: 3 * x + 3]
        return r, g, b

    def colours(self) -> Counter[tuple[int, int, int]]:
        counts: Counter[tuple[int, int, int]] = Counter()
        for row in self.rows:
            counts.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
        return counts


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, prior: bytes, bpp: int) -> bytearray:
    if kind == 0:
        return line
    if kind == 2:  # Up
        return bytearray((x + p) & 0xFF for x, p in zip(line, prior, strict=True))
    out = bytearray(len(line))
    for i, x in enumerate(line):
        a = out[i - bpp] if i >= bpp else 0
        if kind == 1:  # Sub
            out[i] = (x + a) & 0xFF
        elif kind == 3:  # Average
            out[i] = (x + ((a + prior[i]) >> 1)) & 0xFF
        else:  # Paeth
            c = prior[i - bpp] if i >= bpp else 0
            out[i] = (x + _paeth(a, prior[i], c)) & 0xFF
    return out


def decode(data: bytes) -> Image:
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    pos, idat, header = len(SIGNATURE), bytearray(), b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length: pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour {colour}, interlace {interlace}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1: start + 1 + stride]), prior, bpp)
        prior = bytes(line)
        if bpp == 4:  # drop alpha: a screenshot of an opaque page
            rgb = bytearray(width * 3)
            rgb[0::3], rgb[1::3], rgb[2::3] = prior[0::4], prior[1::4], prior[2::4]
            rows.append(bytes(rgb))
        else:
            rows.append(prior)
    return Image(width, height, rows)
