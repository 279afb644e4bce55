"""Gallery and query embeddings for `vdgray eval`, the gallery cached in storage.

The gallery (every image of the evaluated split) is embedded once per (model, data, split)
with Ray Data: a read of (image_id, uri) rows, then `gallery_embed`'s callable class (it
loads the CIR model in `__init__`, and reads, preprocesses and embeds a batch with the target
encoder in `__call__`) on an actor pool, written as Parquet under the cache URI with an
"embeddings" manifest whose `cache_key` names the model (URI and its manifest's creation
time), the data root and the split. A second eval of the same model and split reads the
cache instead of re-embedding.
Query embeddings (reference image + text) are computed in batches in the driver.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa

from vdgray import manifest, storage
from vdgray.gallery_embed import EncoderPool, embed_batches, embedding_matrix, write_embeddings
from vdgray.layout import EMBEDDINGS_STAGE


def model_stamp(model: str) -> str:
    """The model URI plus its manifest's creation time (a retrained model gets a new key)."""
    try:
        doc = manifest.read_manifest(model)
        return f"{model}@{doc.get('created_at', '')}"
    except Exception:  # no manifest (a bare model dir): the URI alone
        return model


def cache_key(model: str, data: dict) -> str:
    blob = json.dumps({"model": model_stamp(model), **data}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def gallery_embeddings(model: str, images: pa.Table, cache_uri: str, key_data: dict,
                       batch_size: int = 64, concurrency: int = 1, num_cpus: float = 1.0,
                       use_gpu: bool = False, *, ray_cfg=None,
                       what: str = "gallery embeddings") -> tuple[dict[str, np.ndarray], bool]:
    """name -> embedding for every row of `images` (image_id, uri); (result, from_cache).

    A plan that the local Ray cannot schedule fails first, naming `what` (the output)."""
    key = cache_key(model, key_data)
    where = storage.join(cache_uri, key)
    if not manifest.is_complete(where, EMBEDDINGS_STAGE):
        pool = EncoderPool(model, "target", batch_size, concurrency, num_cpus, use_gpu)
        pool.check({}, ray_cfg, what)
        _embed(pool, images, where, key, key_data)
        hit = False
    else:
        hit = True
    table = manifest.read_dataset(where, EMBEDDINGS_STAGE)
    emb = embedding_matrix(table)
    out = dict(zip(table.column("image_id").to_pylist(), emb, strict=True))
    missing = [n for n in images.column("image_id").to_pylist() if n not in out]
    if missing:
        from vdgray.errors import IncompleteOutputError

        raise IncompleteOutputError(f"{where}: cached gallery embeddings lack {len(missing)} "
                                    f"images (first: {missing[0]!r}); delete the cache")
    return out, hit


def _embed(pool: EncoderPool, images: pa.Table, where: str, key: str, key_data: dict) -> None:
    import time

    import ray

    t0 = time.time()
    storage.delete_prefix(where)
    ds = ray.data.from_arrow(images)
    ds = ds.repartition(max(1, images.num_rows // (4 * pool.batch_size)))
    _, rel = write_embeddings(embed_batches(ds, pool), where)
    manifest.write_manifest(where, stage=EMBEDDINGS_STAGE, inputs={"model": pool.model},
                            counts={"images": images.num_rows}, files=rel,
                            wall_time_s=time.time() - t0,
                            extra={"cache_key": key, "key": key_data})


def query_embeddings(model, read_image, references, texts, batch_size: int = 64) -> np.ndarray:
    """Query embeddings [Q, D] for (reference name, text) pairs, images via `read_image`."""
    out = []
    for lo in range(0, len(references), batch_size):
        refs = references[lo:lo + batch_size]
        px = model.preprocess([read_image(r) for r in refs])
        out.append(model.encode_queries(px, texts[lo:lo + batch_size]).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.dim), np.float32)
