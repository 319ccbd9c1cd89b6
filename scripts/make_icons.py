"""Make the app's icons (static/icons/*.png) from the standard library alone.

    python scripts/make_icons.py [--out static/icons]

A white telephone handset on the site's brand colour: icon-192.png and icon-512.png
(rounded square, transparent corners) and icon-maskable-512.png (full bleed, the handset
inside the maskable safe zone, the middle 80%). The shapes are distance functions, so
each pixel's coverage is its antialiasing, and every run makes the same pixels (a test
makes them again and compares).
"""

import argparse
import math
import struct
import zlib
from pathlib import Path

BRAND = (0x3B, 0x5B, 0xDB)
WHITE = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"


def _png(width: int, rows: list[bytes]) -> bytes:
    """RGBA rows (filter byte included) as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, len(rows), 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def _rounded_square(x: float, y: float, half: float, radius: float) -> float:
    """Signed distance to a square of half-size `half` centred at 0 with rounded corners."""
    qx, qy = abs(x) - half + radius, abs(y) - half + radius
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - radius


def _handset(x: float, y: float) -> float:
    """Signed distance to a handset in a unit frame (-1..1): an arc of a thick ring
    (the handle) from the ear cup at the upper right to the mouth cup at the lower left."""
    # rotate by 45 degrees so the arc's opening faces the upper left
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    rx, ry = c * x + s * y, -s * x + c * y
    radius, thickness = 0.62, 0.2
    angle = math.atan2(ry, rx)
    half_span = math.radians(80)
    if abs(angle - math.pi / 2) <= half_span:  # on the handle's arc (around +y after rotating)
        handle = abs(math.hypot(rx, ry) - radius) - thickness / 2
    else:
        handle = math.inf
    cups = []
    for end in (math.pi / 2 - half_span, math.pi / 2 + half_span):
        ex, ey = (radius - 0.08) * math.cos(end), (radius - 0.08) * math.sin(end)  # cups lean inwards
        # a cup: a rounded box across the ring's end, wider than the handle
        dx, dy = rx - ex, ry - ey
        tangent_x, tangent_y = -math.sin(end), math.cos(end)
        along = dx * tangent_x + dy * tangent_y
        across = dx * math.cos(end) + dy * math.sin(end)
        qx, qy = abs(along) - 0.1, abs(across) - 0.2
        cups.append(math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - 0.06)
    return min(handle, *cups)


def icon(size: int, *, maskable: bool) -> bytes:
    rows = []
    scale = size / 2
    # the glyph's frame: the middle 60% for a maskable icon (inside its 80% safe zone), 70% else
    glyph = 0.6 if maskable else 0.7
    for j in range(size):
        row = bytearray(b"\x00")
        for i in range(size):
            x, y = (i + 0.5) / scale - 1, (j + 0.5) / scale - 1
            if maskable:
                back = 1.0
            else:
                back = min(max(0.5 - _rounded_square(x, y, 1.0, 0.36) * scale, 0.0), 1.0)
            fore = min(max(0.5 - _handset(x / glyph - 0.1, y / glyph + 0.08) * glyph * scale, 0.0), 1.0)
            colour = [round(b + (w - b) * fore) for b, w in zip(BRAND, WHITE, strict=True)]
            row += bytes(colour) + bytes([round(255 * back)])
        rows.append(bytes(row))
    return _png(size, rows)


ICONS = {
    "icon-192.png": (192, False),
    "icon-512.png": (512, False),
    "icon-maskable-512.png": (512, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, (size, maskable) in ICONS.items():
        data = icon(size, maskable=maskable)
        (out / name).write_bytes(data)
        print(f"{out / name}: {size}x{size}, {len(data)} bytes")


if __name__ == "__main__":
    main()
