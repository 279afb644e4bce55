"""Write the auxiliary gallery and its captions as matching Parquet shards, through Ray Data.

Shard k holds images [k*shard_rows, (k+1)*shard_rows); one Ray Data row per shard goes to a
pool of `GalleryShardWriter` actors, which render the shard and write gallery/part-k and
captions/part-k (same ids, same order). Only one small record per shard comes back to the
driver, so the gallery streams to any size (1,000,000 images = 200 shards of 5,000).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from vdgray import storage
from vdgray.data.synthetic.world import AuxRenderer
from vdgray.layout import CAPTIONS_SCHEMA, GALLERY_SCHEMA


def shard_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


def n_shards(n_rows: int, shard_rows: int) -> int:
    return (n_rows + shard_rows - 1) // shard_rows


class GalleryShardWriter:
    """Callable batch class: {"id": shard numbers} -> {"shard", "file", "rows"} after writing."""

    def __init__(self, gallery_uri: str, captions_uri: str, n_rows: int, shard_rows: int,
                 **renderer_kwargs):
        self.gallery_uri, self.captions_uri = gallery_uri, captions_uri
        self.n_rows, self.shard_rows = n_rows, shard_rows
        self.renderer = AuxRenderer(**renderer_kwargs)

    def write_shard(self, k: int) -> int:
        start = k * self.shard_rows
        stop = min(self.n_rows, start + self.shard_rows)
        cols = self.renderer({"id": np.arange(start, stop)})
        ids = pa.array(list(cols["image_id"]), pa.string())
        gallery = pa.table([ids, pa.array(list(cols["image"]), pa.binary())],
                           schema=GALLERY_SCHEMA)
        captions = pa.table([ids, pa.array(list(cols["caption"]), pa.string()),
                             pa.array(list(cols["attributes"]), pa.string())],
                            schema=CAPTIONS_SCHEMA)
        # PNG bytes do not compress further; captions do.
        storage.write_parquet(storage.join(self.gallery_uri, shard_name(k)), gallery,
                              compression="none")
        storage.write_parquet(storage.join(self.captions_uri, shard_name(k)), captions)
        return stop - start

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shards = [int(k) for k in batch["id"]]
        rows = [self.write_shard(k) for k in shards]
        return {"shard": np.asarray(shards, dtype=np.int64),
                "file": np.asarray([shard_name(k) for k in shards], dtype=object),
                "rows": np.asarray(rows, dtype=np.int64)}


STORAGE_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
               "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


def storage_env() -> dict[str, str]:
    """The driver's S3 settings, passed to the writer actors so they write where it reads."""
    return {k: os.environ[k] for k in STORAGE_ENV if os.environ.get(k)}


def write_gallery(gallery_uri: str, captions_uri: str, n_rows: int, shard_rows: int,
                  workers: int | None, renderer_kwargs: dict) -> list[dict]:
    """Render and write every shard on Ray; returns one {"shard","file","rows"} per shard."""
    import ray

    shards = n_shards(n_rows, shard_rows)
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = max(1, min(workers, shards))
    # Shard numbers come from the driver (a few bytes each): no read tasks compete with the
    # writer actors for CPUs, which would deadlock when the actors take every CPU.
    items = [{"id": k} for k in range(shards)]
    ds = ray.data.from_items(items, override_num_blocks=min(shards, 1000)).map_batches(
        GalleryShardWriter,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
        runtime_env={"env_vars": storage_env()} if storage_env() else None,
        fn_constructor_kwargs={"gallery_uri": gallery_uri, "captions_uri": captions_uri,
                               "n_rows": n_rows, "shard_rows": shard_rows, **renderer_kwargs},
    )
    out = [{"shard": int(r["shard"]), "file": str(r["file"]), "rows": int(r["rows"])}
           for r in ds.iter_rows()]
    return sorted(out, key=lambda r: r["shard"])
