"""Gallery images for report pages: each id read once through the image store every stage
uses (folder or Parquet gallery, local or s3://), scaled to a thumbnail, inlined."""

from __future__ import annotations

from vdgray.report.page import image
from vdgray.retrieval.image_store import ImageStore
from vdgray.retrieval.thumbnails import thumbnail_jpeg


class Thumbs:
    def __init__(self, gallery: str, size: int):
        self.store = ImageStore.from_source({"gallery": gallery})
        self.size = size
        self._made: dict[str, bytes | None] = {}

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
                data = thumbnail_jpeg(decode_image(bytes(self.store.get(image_id))), self.size)
            except (KeyError, StorageError, DataFormatError):  # shown as a marked gap
                data = None
            self._made[image_id] = data
        return self._made[image_id]

    def figure(self, image_id: str) -> str:
        return image(self.jpeg(image_id), image_id)
