"""Draw a scene as a small RGB image, with mild seeded noise so no two images are identical.

Objects are polygons drawn at twice the output size and box-downsampled (cheap
anti-aliasing), so shapes stay recognisable at 64x64. The noise (position, size, rotation and
colour jitter plus pixel noise) is drawn from the caller's generator, so an image is a pure
function of (scene, size, seed): the same seed gives the same PNG bytes.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw

from vdgray.data.synthetic.attributes import POSITIONS, RGB, SIZES, Scene, SceneObject

SUPERSAMPLE = 2
# Bounding radius of an object as a fraction of the image side (a grid cell is 1/3).
SIZE_RADIUS: dict[str, float] = {"small": 0.085, "medium": 0.115, "large": 0.15}
assert set(SIZE_RADIUS) == set(SIZES)

# Full-strength jitter (scaled by `noise`): fraction of the side, relative radius, degrees,
# colour channel units, pixel noise amplitude (0-255 units).
POS_JITTER = 0.035
SIZE_JITTER = 0.15
ROT_JITTER = 15.0
COLOUR_JITTER = 30.0
PIXEL_NOISE = 6.0  # half-range of uniform integer (luminance) noise


def _regular(n: int, start_deg: float, radii: tuple[float, ...] = (1.0,)) -> list[tuple[float, float]]:
    pts = []
    for k in range(n):
        a = math.radians(start_deg + k * 360.0 / n)
        r = radii[k % len(radii)]
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


_W = 0.34  # half-width of a cross arm
UNIT_POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": _regular(4, 45.0, (1.0,)),
    "triangle": [(x, y + 0.15) for x, y in _regular(3, -90.0, (1.15,))],
    "star": _regular(10, -90.0, (1.15, 0.48)),
    "hexagon": _regular(6, 0.0, (1.0,)),
    "diamond": [(0.0, -1.1), (0.68, 0.0), (0.0, 1.1), (-0.68, 0.0)],
    "cross": [(-_W, -1), (_W, -1), (_W, -_W), (1, -_W), (1, _W), (_W, _W), (_W, 1), (-_W, 1),
              (-_W, _W), (-1, _W), (-1, -_W), (-_W, -_W)],
}


def _jitter_colour(name: str, rng: np.random.Generator, amount: float) -> tuple[int, int, int]:
    base = RGB[name]
    if amount <= 0:
        return base
    d = rng.uniform(-amount, amount, size=3).tolist()
    return tuple(min(255, max(0, round(b + x))) for b, x in zip(base, d, strict=True))


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, side: float,
                 rng: np.random.Generator, noise: float) -> None:
    idx = POSITIONS.index(obj.position)
    row, col = divmod(idx, 3)
    cell = side / 3.0
    j = rng.uniform(-1.0, 1.0, size=4) * noise
    cx = (col + 0.5) * cell + j[0] * POS_JITTER * side
    cy = (row + 0.5) * cell + j[1] * POS_JITTER * side
    r = SIZE_RADIUS[obj.size] * side * (1.0 + j[2] * SIZE_JITTER)
    colour = _jitter_colour(obj.colour, rng, COLOUR_JITTER * noise)
    if obj.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        return
    theta = math.radians(j[3] * ROT_JITTER)
    c, s = math.cos(theta), math.sin(theta)
    pts = [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in UNIT_POLYGONS[obj.shape]]
    draw.polygon(pts, fill=colour)


def render(scene: Scene, size: int, rng: np.random.Generator, noise: float = 0.5) -> Image.Image:
    """Draw `scene` as a `size`x`size` RGB image; `noise` in [0, 1] scales every jitter."""
    big = size * SUPERSAMPLE
    bg = _jitter_colour(scene.background, rng, COLOUR_JITTER * noise * 0.3)
    img = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:
        _draw_object(draw, obj, float(big), rng, noise)
    img = img.reduce(SUPERSAMPLE)
    if noise > 0:
        arr = np.asarray(img, dtype=np.int16)
        amp = max(1, int(round(PIXEL_NOISE * noise)))
        pix = rng.integers(-amp, amp + 1, size=(size, size, 1), dtype=np.int16)
        img = Image.fromarray(np.clip(arr + pix, 0, 255).astype(np.uint8), "RGB")
    return img


def png_bytes(img: Image.Image, compress_level: int = 1) -> bytes:
    """Encode as PNG (level 1: fast, and noisy pixels barely compress at higher levels)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def decode_png(data: bytes) -> Image.Image:
    """Decode PNG bytes to an RGB image."""
    return Image.open(io.BytesIO(data)).convert("RGB")
