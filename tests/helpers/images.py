"""Small PNG and JPEG images made in memory, for tests that need image bytes but not a dataset."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def solid_png(colour, size: int = 32) -> bytes:
    """A `size`x`size` RGB PNG of one colour (images told apart by colour alone)."""
    return _encode(Image.new("RGB", (size, size), colour))


def noise_png(seed: int, size: int = 64) -> bytes:
    """A `size`x`size` RGB PNG of uniform noise drawn from `seed`: distinct and reproducible."""
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return _encode(Image.fromarray(arr))


def noise_jpeg(seed: int, size: int = 48) -> bytes:
    """As `noise_png`, encoded as a JPEG (what a camera folder holds)."""
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return _encode(Image.fromarray(arr), "JPEG")
