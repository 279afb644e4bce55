"""Reference images by gallery id, for queries that name an indexed image instead of sending it.

The index manifest records where its images came from (`source`): a CIRR split (of a world
or a CIRR root) maps each name to an image file; a folder gallery maps ids to files; a
Parquet gallery maps ids to (shard, row), reading only the image_id column at start-up and
one shard's image column on demand (a few shards kept in memory). Files are read per query, so
one deleted since the index was built is found then (the server answers 404, not 500).
"""

from __future__ import annotations

from collections import OrderedDict

from vdgray import storage


class ImageStore:
    """image_id -> encoded bytes; `KeyError` for an id the gallery does not have."""

    def __init__(self, files: dict[str, str] | None = None,
                 rows: dict[str, tuple[str, int]] | None = None, cached_shards: int = 4):
        self._files = files or {}
        self._rows = rows or {}
        self._shards: OrderedDict[str, list] = OrderedDict()
        self._cached = cached_shards

    @classmethod
    def from_source(cls, source: dict, image_root: str | None = None) -> ImageStore:
        """The store for an index manifest's `source` ({"gallery", optional "split" and the
        "image_root" index found}); `image_root` (serve's setting) overrides the recorded one,
        for images moved since; neither set, it is found as the CIRR loader finds it."""
        gallery = source.get("gallery")
        if not gallery:
            return cls()
        if source.get("split"):
            from vdgray.data.cirr import load_cirr
            from vdgray.layout import split_root

            root, _ = split_root(gallery)
            images = image_root or source.get("image_root")
            return cls(files=dict(load_cirr(root, source["split"], image_root=images).images))
        from vdgray.data.gallery import image_id_for, resolve_gallery

        src = resolve_gallery(gallery)
        if src.kind == "folder":
            return cls(files={image_id_for(src.root, f): f for f in src.files})
        rows: dict[str, tuple[str, int]] = {}
        for f in src.files:
            ids = storage.read_parquet(f, columns=["image_id"]).column("image_id").to_pylist()
            rows.update({i: (f, r) for r, i in enumerate(ids)})
        return cls(rows=rows)

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._files or image_id in self._rows

    def __len__(self) -> int:
        return len(self._files) + len(self._rows)

    def get(self, image_id: str) -> bytes:
        """The encoded image; KeyError when unknown, MissingFileError when its file is gone,
        StorageError when the storage cannot be read."""
        if image_id in self._files:
            return storage.read_bytes(self._files[image_id])
        shard, row = self._rows[image_id]
        images = self._shards.get(shard)
        if images is None:
            images = storage.read_parquet(shard, columns=["image"]).column("image").to_pylist()
            self._shards[shard] = images
            while len(self._shards) > self._cached:
                self._shards.popitem(last=False)
        else:
            self._shards.move_to_end(shard)
        return images[row]
