"""Images for report pages: each id read once (through the image store every stage uses, or a
benchmark split's own reader), scaled to a thumbnail, inlined."""

from __future__ import annotations

from collections.abc import Callable

from vdgray.report.page import image
from vdgray.retrieval.thumbnails import thumbnail_jpeg


class Thumbs:
    """image_id -> an inlined thumbnail figure; an id that cannot be read is a marked gap."""

    def __init__(self, read: Callable[[str], bytes], size: int):
        self.read = read
        self.size = size
        self._made: dict[str, bytes | None] = {}

    @classmethod
    def from_gallery(cls, gallery: str, size: int) -> Thumbs:
        """For a gallery as `embed`/`generate` read it (folder or Parquet, local or s3://)."""
        from vdgray.retrieval.image_store import ImageStore

        store = ImageStore.from_source({"gallery": gallery})
        return cls(lambda image_id: bytes(store.get(image_id)), size)

    @property
    def made(self) -> int:
        return sum(v is not None for v in self._made.values())

    @property
    def missing(self) -> int:
        return sum(v is None for v in self._made.values())

    def jpeg(self, image_id: str) -> bytes | None:
        if image_id not in self._made:
            from vdgray.data.images import decode_image
            from vdgray.errors import DataFormatError, StorageError

            try:
                data = thumbnail_jpeg(decode_image(self.read(image_id)), self.size)
            except (KeyError, StorageError, DataFormatError):  # shown as a marked gap
                data = None
            self._made[image_id] = data
        return self._made[image_id]

    def figure(self, image_id: str, caption: str | None = None, cls: str = "") -> str:
        return image(self.jpeg(image_id), image_id, caption, cls)
