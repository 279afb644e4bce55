"""Gallery images as small JPEGs for pages (the search page, reports): what a browser shows in
a grid of results, not the full-size file the model reads.

A thumbnail keeps the image's aspect ratio and fits in `size` x `size` pixels. The last few
hundred made are kept per process, since a results page asks for the same images again.
"""

from __future__ import annotations

import io
from collections import OrderedDict

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 16, 1024, 256


def thumbnail_jpeg(image, size: int, quality: int = 85) -> bytes:
    """`image` (a PIL image) scaled down to fit `size` x `size`, as JPEG bytes."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class ThumbnailCache:
    """(image_id, size) -> JPEG bytes, the `capacity` most recent."""

    def __init__(self, capacity: int = 512):
        self._items: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._capacity = capacity

    def get(self, key: tuple[str, int]) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: tuple[str, int], data: bytes) -> None:
        self._items[key] = data
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
