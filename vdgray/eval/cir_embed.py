"""Gallery and query embeddings for `vdgray eval`, the gallery cached in storage.

The gallery (every image of the evaluated split) is embedded once per (model, data, split)
with Ray Data: a read of (image_id, uri) rows, then `EmbedTargets` — a callable class that
loads the CIR model in `__init__` and reads, preprocesses and embeds a batch in `__call__` —
on an actor pool, written as Parquet under the cache URI with an "embeddings" manifest whose
`cache_key` names the model (URI and its manifest's creation time), the data root and the
split. A second eval of the same model and split reads the cache instead of re-embedding.
Query embeddings (reference image + text) are computed in batches in the driver.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa

from vdgray import manifest, storage
from vdgray.layout import EMBEDDINGS_STAGE


class EmbedTargets:
    """Ray Data actor: {image_id, uri} -> {image_id, embedding[D]} (target embeddings)."""

    def __init__(self, model: str, torch_threads: int = 1, device: str = "cpu"):
        import torch

        from vdgray.models.cir import load_cir

        torch.set_num_threads(torch_threads)
        self.model = load_cir(model).to(device)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        images = [storage.read_bytes(str(u)) for u in batch["uri"]]
        emb = self.model.encode_targets(self.model.preprocess(images)).numpy()
        emb = emb.astype(np.float32, copy=False)
        return pa.table({
            "image_id": pa.array([str(x) for x in batch["image_id"]], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)),
                                                           emb.shape[1]),
        })


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
    from vdgray.plan_fit import check_on_ray, encoder_pool_plan

    key = cache_key(model, key_data)
    where = storage.join(cache_uri, key)
    if not manifest.is_complete(where, EMBEDDINGS_STAGE):
        check_on_ray(encoder_pool_plan(concurrency, num_cpus, use_gpu, {}), ray_cfg, what,
                     "concurrency or num_cpus_per_actor")
        _embed(model, images, where, key, key_data, batch_size, concurrency, num_cpus, use_gpu)
        hit = False
    else:
        hit = True
    table = manifest.read_dataset(where, EMBEDDINGS_STAGE)
    emb = np.asarray(table.column("embedding").combine_chunks().flatten().to_numpy(
        zero_copy_only=False), np.float32).reshape(table.num_rows, -1)
    out = dict(zip(table.column("image_id").to_pylist(), emb, strict=True))
    missing = [n for n in images.column("image_id").to_pylist() if n not in out]
    if missing:
        from vdgray.errors import IncompleteOutputError

        raise IncompleteOutputError(f"{where}: cached gallery embeddings lack {len(missing)} "
                                    f"images (first: {missing[0]!r}); delete the cache")
    return out, hit


def _embed(model, images, where, key, key_data, batch_size, concurrency, num_cpus, use_gpu):
    import time

    import ray

    t0 = time.time()
    storage.delete_prefix(where)
    ds = ray.data.from_arrow(images).repartition(max(1, images.num_rows // (4 * batch_size)))
    ds = ds.map_batches(
        EmbedTargets, fn_constructor_kwargs={"model": model, "torch_threads": max(1, round(num_cpus)),
                                             "device": "cuda" if use_gpu else "cpu"},
        batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=0 if use_gpu else num_cpus, num_gpus=1 if use_gpu else 0,
    )
    fs, path = storage.filesystem(where)
    ds.write_parquet(path, filesystem=fs)
    base = where.rstrip("/") + "/"
    files = storage.list_files(where, suffix=".parquet")
    rel = [f[len(base):] if f.startswith(base) else f.rsplit("/", 1)[-1] for f in files]
    manifest.write_manifest(where, stage=EMBEDDINGS_STAGE, inputs={"model": model},
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
