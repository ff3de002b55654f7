"""The app's icon, drawn at build time: an MLP block as three layers of dots
(in, hidden, out) with one hidden neuron lit, the one that holds the fact.
Written as PNGs and listed in the web app manifest (web/manifest.webmanifest)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

SIZES = (192, 512)
DOT = (236, 240, 245)
LIT = (242, 142, 43)
# Each layer's x and its dots' y, in units of the icon's side.
LAYERS = ((0.22, (0.3, 0.5, 0.7)), (0.5, (0.18, 0.34, 0.5, 0.66, 0.82)), (0.78, (0.3, 0.5, 0.7)))
LIT_DOT = (0.5, 0.5)
RADIUS = 0.06
SUPERSAMPLE = 4


def draw(size: int, background: str) -> np.ndarray:
    """An RGB image, size x size, on `background` ("#rrggbb"), antialiased by supersampling."""
    n = size * SUPERSAMPLE
    y, x = (np.mgrid[0:n, 0:n] + 0.5) / n
    img = np.empty((n, n, 3))
    img[:] = [int(background[i:i + 2], 16) for i in (1, 3, 5)]
    for cx, rows in LAYERS:
        for cy in rows:
            inside = (x - cx) ** 2 + (y - cy) ** 2 <= RADIUS**2
            img[inside] = LIT if (cx, cy) == LIT_DOT else DOT
    img = img.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.round(img).astype(np.uint8)


def png(img: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image (no library but zlib)."""
    h, w, _ = img.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + img[r].tobytes() for r in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def write_icons(out: Path) -> None:
    """icon-SIZE.png in out for each size, on the manifest's theme colour,
    listed in out's manifest.webmanifest."""
    manifest = out / "manifest.webmanifest"
    fields = json.loads(manifest.read_text())
    icons = []
    for size in SIZES:
        name = f"icon-{size}.png"
        (out / name).write_bytes(png(draw(size, fields["theme_color"])))
        icons.append({"src": name, "sizes": f"{size}x{size}", "type": "image/png"})
    fields["icons"] = icons
    manifest.write_text(json.dumps(fields, indent=2) + "\n")
