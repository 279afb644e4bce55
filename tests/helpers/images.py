"""Small PNG images made in memory, for tests that need image bytes but not a dataset."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def solid_png(colour, size: int = 32) -> bytes:
    """A `size`x`size` RGB PNG of one colour (images told apart by colour alone)."""
    return _encode(Image.new("RGB", (size, size), colour))


def noise_png(seed: int, size: int = 64) -> bytes:
    """A `size`x`size` RGB PNG of uniform noise drawn from `seed`: distinct and reproducible."""
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return _encode(Image.fromarray(arr))
