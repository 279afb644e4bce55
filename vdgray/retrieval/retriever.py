"""The retriever in one process: model + FAISS index + id map, loaded once, searched in batches.

`Retriever.search(queries)` is the whole query path — look up or decode each reference
image, one model forward for every valid query, one FAISS search, drop the reference from
its own results — and answers each query with a result or a `QueryError`, so one bad query
never fails the others in its batch. The Serve deployment, the benchmark's in-process
baseline and the tests all call this same object.
"""

from __future__ import annotations

import logging

import numpy as np

from vdgray import manifest, storage
from vdgray.errors import ConfigError, DataFormatError, MissingFileError, StorageError
from vdgray.retrieval.image_store import ImageStore
from vdgray.retrieval.queries import Query, QueryError
from vdgray.retrieval.thumbnails import ThumbnailCache, thumbnail_jpeg

log = logging.getLogger(__name__)


class Retriever:
    """Loads the CIR model and the index written by `vdgray index`; answers `Query`s."""

    def __init__(self, model_uri: str, index_uri: str, *, torch_threads: int | None = None,
                 device: str = "cpu", faiss_gpu=False, nprobe: int | None = None,
                 image_root: str | None = None):
        import torch

        from vdgray.index import load_index
        from vdgray.layout import IDS_FILE, INDEX_FILE, INDEX_STAGE
        from vdgray.models.cir import load_cir

        if torch_threads:
            torch.set_num_threads(torch_threads)
        doc = manifest.read_manifest(index_uri, INDEX_STAGE)
        self.info = dict(doc.get("index", {}))
        self.index_uri = index_uri
        self.model_uri = model_uri
        self.model = load_cir(model_uri).to(device)
        self.index = load_index(storage.join(index_uri, INDEX_FILE), use_gpu=faiss_gpu,
                                nprobe=nprobe or self.info.get("nprobe"))
        self.ids = storage.read_parquet(storage.join(index_uri, IDS_FILE)).column(
            "image_id").to_pylist()
        if self.index.ntotal != len(self.ids):
            raise DataFormatError(f"{index_uri}: index has {self.index.ntotal} vectors but "
                                  f"{IDS_FILE} lists {len(self.ids)} ids")
        if self.index.d != self.model.dim:
            raise ConfigError(f"index {index_uri} has dimension {self.index.d} but model "
                              f"{model_uri} embeds into {self.model.dim}: index the gallery "
                              f"with this model (vdgray index)")
        self.images = ImageStore.from_source(self.info.get("source", {}), image_root)
        self.thumbnails = ThumbnailCache()

    def describe(self) -> dict:
        """What this replica serves (for /healthz and logs)."""
        return {"model_uri": self.model_uri, "index_uri": self.index_uri,
                "vectors": len(self.ids), "dim": int(self.index.d),
                "index_kind": self.info.get("faiss_type"), "index_model": self.info.get("model")}

    def check(self) -> None:
        """Raise if the loaded state is unusable (the deployment's health check)."""
        if self.index.ntotal != len(self.ids) or self.index.ntotal == 0:
            raise RuntimeError(f"index {self.index_uri} is empty or out of sync with its ids")

    def _image(self, q: Query):
        from vdgray.data.images import decode_image

        if q.image_id is not None:
            return self._stored_image(q.image_id)
        try:
            return decode_image(bytes(q.image))
        except DataFormatError as e:
            return QueryError(400, "image", str(e))

    def thumbnail(self, image_id: str, size: int) -> bytes | QueryError:
        """A gallery image as a JPEG fitting `size` x `size` (for pages), or why not, as
        `_stored_image` says it (404 unknown or unreadable, 503 storage down)."""
        key = (image_id, size)
        data = self.thumbnails.get(key)
        if data is None:
            image = self._stored_image(image_id)
            if isinstance(image, QueryError):
                return image
            data = thumbnail_jpeg(image, size)
            self.thumbnails.put(key, data)
        return data

    def _stored_image(self, image_id: str):
        """The gallery's image for an id, or why not: 404 for an id the index does not have
        or whose file is gone or undecodable, 503 when the storage cannot be read. The file's
        URI goes to the replica's log, not to the client."""
        from vdgray.data.images import decode_image

        if image_id not in self.images:
            return QueryError(404, "image_id", f"unknown image_id {image_id!r} (not in "
                                               f"the gallery of {self.index_uri})")
        try:
            return decode_image(bytes(self.images.get(image_id)))
        except MissingFileError as e:
            log.warning("image_id %r: %s", image_id, e)
            return QueryError(404, "image_id", f"image_id {image_id!r}: its gallery file is "
                                               "gone (deleted or moved since the index was built)")
        except StorageError as e:
            log.warning("image_id %r: %s", image_id, e)
            return QueryError(503, "image_id", f"image_id {image_id!r}: the gallery's storage "
                                               "cannot be read now; retry later")
        except DataFormatError as e:
            log.warning("image_id %r: %s", image_id, e)
            return QueryError(404, "image_id", f"image_id {image_id!r}: its gallery file is "
                                               "not a readable image")

    def encode(self, queries: list[Query]) -> tuple[np.ndarray, list[QueryError | None]]:
        """Query embeddings [n_valid, D] (one forward) and, per query, its error or None."""
        errors: list[QueryError | None] = []
        images, texts = [], []
        for q in queries:
            img = self._image(q)
            if isinstance(img, QueryError):
                errors.append(img)
                continue
            errors.append(None)
            images.append(img)
            texts.append(q.text)
        if not images:
            return np.zeros((0, self.model.dim), np.float32), errors
        pixels = self.model.preprocess(images)
        emb = self.model.encode_queries(pixels, texts).numpy().astype(np.float32, copy=False)
        return emb, errors

    def search(self, queries: list[Query]) -> list[dict | QueryError]:
        """Per query: {"results": [{"image_id", "score"}...], "k"} or its QueryError."""
        from vdgray.index import search

        emb, errors = self.encode(queries)
        out: list[dict | QueryError] = []
        if len(emb):
            kmax = min(len(self.ids), max(q.k for q, e in zip(queries, errors, strict=True)
                                          if e is None) + 1)
            sims, ids = search(self.index, emb, kmax)
        row = 0
        for q, err in zip(queries, errors, strict=True):
            if err is not None:
                out.append(err)
                continue
            skip = q.image_id if q.exclude_reference else None
            hits = []
            for s, i in zip(sims[row], ids[row], strict=True):
                if i < 0:
                    continue
                name = self.ids[i]
                if name == skip:
                    continue
                hits.append({"image_id": name, "score": float(s)})
                if len(hits) == q.k:
                    break
            row += 1
            out.append({"results": hits, "k": q.k})
        return out
