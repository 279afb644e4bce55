"""What a loaded CIRR or FashionIQ split offers whatever its file layout.

Both loaders end in a split of queries and an image table (name -> image URI); reading an
image, the gallery table, and the human triplets are the same code for both, written here once.
Each split says only what its own error messages name (its file, its split).
"""

from __future__ import annotations

import pyarrow as pa

from vdgray import storage
from vdgray.data.triplets import HUMAN, make_triplets
from vdgray.errors import DataFormatError, StorageError


def read_json(uri: str, what: str):
    """A benchmark's JSON file; `what` ("CIRR captions") names it when it is absent."""
    try:
        return storage.read_json(uri)
    except StorageError as e:
        if str(e).endswith("file not found"):
            raise DataFormatError(f"{uri}: {what} file not found") from None
        raise DataFormatError(str(e)) from None


class BenchmarkSplit:
    """Mixin of a loaded split dataclass with `split`, `queries` (each with `reference` and
    `target`) and `images` (name -> URI); subclasses word the errors and the query text."""

    split: str
    queries: list
    images: dict[str, str]

    def _not_in_split(self, name: str) -> str:
        raise NotImplementedError

    def _unreadable(self, name: str, err: StorageError) -> str:
        raise NotImplementedError

    def _no_targets(self) -> str:
        raise NotImplementedError

    def _query_text(self, query) -> str:
        raise NotImplementedError

    def image_uri(self, name: str) -> str:
        try:
            return self.images[name]
        except KeyError:
            raise DataFormatError(self._not_in_split(name)) from None

    def read_image(self, name: str) -> bytes:
        """The encoded bytes of one image of the split."""
        uri = self.image_uri(name)
        try:
            return storage.read_bytes(uri)
        except StorageError as e:
            raise DataFormatError(self._unreadable(name, e)) from None

    def images_table(self) -> pa.Table:
        """The split's images in the gallery contract form: image_id, uri."""
        return pa.table({"image_id": list(self.images), "uri": list(self.images.values())})

    def to_triplets(self, generator: str = HUMAN) -> pa.Table:
        """Queries as human triplets (reference, target, query text); needs targets."""
        if any(q.target is None for q in self.queries):
            raise DataFormatError(self._no_targets())
        return make_triplets([q.reference for q in self.queries],
                             [q.target for q in self.queries],
                             [self._query_text(q) for q in self.queries], HUMAN, generator)
