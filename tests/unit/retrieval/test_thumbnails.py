"""Thumbnails for pages: they fit the asked size, keep the aspect ratio, never grow an image,
and the cache keeps the most recently used."""

from __future__ import annotations

import io

from PIL import Image

from vdgray.retrieval.thumbnails import ThumbnailCache, thumbnail_jpeg


def _size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img.size


def test_a_thumbnail_fits_the_size_keeps_the_aspect_and_never_grows():
    wide = Image.new("RGBA", (400, 100), (255, 0, 0, 128))  # alpha: JPEG has none
    assert _size(thumbnail_jpeg(wide, 64)) == (64, 16)
    small = Image.new("L", (20, 30))
    assert _size(thumbnail_jpeg(small, 256)) == (20, 30)


def test_the_cache_drops_the_least_recently_used():
    cache = ThumbnailCache(capacity=2)
    cache.put(("a", 64), b"a")
    cache.put(("b", 64), b"b")
    assert cache.get(("a", 64)) == b"a"  # a is now the most recent
    cache.put(("c", 64), b"c")
    assert cache.get(("b", 64)) is None and cache.get(("a", 64)) == b"a"
    assert cache.get(("c", 64)) == b"c"
