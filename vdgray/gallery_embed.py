"""The one Ray Data step that embeds gallery images, shared by `embed`, `index` and `eval`.

Each of the three stages streams gallery rows through an encoder on an actor pool and keeps
(image_id, embedding) rows; they differ only in which encoder (a registered image encoder, or
a trained CIR model's *target* side) and in what a row carries (pixel values decoded upstream,
encoded image bytes, or image URIs). `EmbedBatch` is that step as a callable class (the model
loads once per actor in `__init__`, a batch is embedded in `__call__`, so it also runs without
Ray); `EncoderPool` holds the pool's settings and `embed_batches` puts it on a dataset.
`EncoderPoolFields` are the config keys `index` and `eval` both expose for that pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from vdgray import storage
from vdgray.config import StageConfig
from vdgray.errors import DataFormatError, VdgrayError, innermost
from vdgray.layout import EMBEDDING, embeddings_schema
from vdgray.runtime import RayConfig

# "image": a registered encoder's image tower; "target": a CIR model's target encoder.
Side = Literal["image", "target"]


class EncoderPoolFields(StageConfig):
    """Config keys of a stage that embeds a gallery on a Ray actor pool (index, eval): the
    same names and defaults in both, so one YAML key means one thing."""

    batch_size: int = Field(64, ge=1, description="Images per encoder batch.")
    concurrency: int = Field(1, ge=1, description="Gallery encoder actors.")
    num_cpus_per_actor: float = Field(1.0, gt=0, description="CPUs per gallery encoder actor.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")


@dataclass(frozen=True)
class EncoderPool:
    """Which encoder embeds, and the actor pool it runs on (`gpu`: one GPU per actor)."""

    model: str
    side: Side
    batch_size: int = 64
    concurrency: int = 1
    num_cpus_per_actor: float = 1.0
    gpu: bool = False
    torch_threads: int | None = None  # default: max(1, round(num_cpus_per_actor))

    def check(self, tasks: dict[str, float], ray_cfg, what: str) -> None:
        """Fail now, naming `what`, when the local Ray cannot schedule this pool + `tasks`."""
        from vdgray.plan_fit import check_on_ray, encoder_pool_plan

        check_on_ray(encoder_pool_plan(self.concurrency, self.num_cpus_per_actor, self.gpu,
                                       tasks),
                     ray_cfg, what, "concurrency or num_cpus_per_actor")


def embeddings_table(ids, emb: np.ndarray, dim: int) -> pa.Table:
    """Rows of the embeddings contract (`layout.embeddings_schema`)."""
    flat = pa.array(np.asarray(emb, np.float32).reshape(-1), pa.float32())
    return pa.Table.from_arrays(
        [pa.array([str(x) for x in ids], pa.string()),
         pa.FixedSizeListArray.from_arrays(flat, dim)],
        schema=embeddings_schema(dim))


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The `embedding` column of an embeddings table as a float32 [rows, D] array."""
    column = table.column(EMBEDDING)
    dim = column.type.list_size if pa.types.is_fixed_size_list(column.type) else -1
    flat = column.combine_chunks().flatten()
    return np.asarray(flat.to_numpy(zero_copy_only=False), np.float32).reshape(table.num_rows, dim)


class EmbedBatch:
    """Ray Data actor: a gallery batch -> (image_id, embedding[D]) rows.

    The batch holds `image_id` and one of: `pixel_values` (preprocessed by decode tasks
    upstream), `uri` (image files read here) or `image` (encoded bytes decoded here; an
    undecodable image is left out of the output, so the caller counts the difference).
    """

    def __init__(self, model: str, side: Side = "image", torch_threads: int = 1,
                 device: str = "cpu"):
        import torch

        torch.set_num_threads(torch_threads)
        if side == "image":
            from vdgray.models.registry import load_encoder

            self.model = load_encoder(model).to(device)
            self.encode = self.model.encode_images
        else:
            from vdgray.models.cir import load_cir

            self.model = load_cir(model).to(device)
            self.encode = self.model.encode_targets
        self.dim = self.model.dim

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        import torch

        ids = batch["image_id"]
        if "pixel_values" in batch:
            pixels = torch.from_numpy(np.ascontiguousarray(batch["pixel_values"],
                                                           dtype=np.float32))
        elif "uri" in batch:
            pixels = self.model.preprocess([storage.read_bytes(str(u)) for u in batch["uri"]])
        else:
            ids, images = _decodable(ids, batch["image"])
            if not images:
                return embeddings_table([], np.zeros((0, self.dim), np.float32), self.dim)
            pixels = self.model.preprocess(images)
        return embeddings_table(ids, self.encode(pixels).numpy(), self.dim)


def _decodable(ids, data) -> tuple[list[str], list]:
    """The (ids, decoded images) of the rows whose bytes decode; the others are dropped."""
    from vdgray.data.images import decode_image

    kept_ids, images = [], []
    for image_id, blob in zip(ids, data, strict=True):
        try:
            images.append(decode_image(bytes(blob)))
            kept_ids.append(str(image_id))
        except (DataFormatError, TypeError):
            continue  # an undecodable gallery image is left out (the caller counts it)
    return kept_ids, images


def embed_batches(ds, pool: EncoderPool):
    """`ds` (rows `EmbedBatch` reads) -> a lazy dataset of embeddings, on the actor pool."""
    import ray

    threads = pool.torch_threads or max(1, round(pool.num_cpus_per_actor))
    return ds.map_batches(
        EmbedBatch,
        fn_constructor_kwargs={"model": pool.model, "side": pool.side, "torch_threads": threads,
                               "device": "cuda" if pool.gpu else "cpu"},
        batch_size=pool.batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=pool.concurrency),
        num_cpus=0 if pool.gpu else pool.num_cpus_per_actor, num_gpus=1 if pool.gpu else 0,
    )


def write_embeddings(ds, where: str) -> tuple[list[str], list[str]]:
    """Write `ds` as Parquet under `where`; (file URIs, their paths relative to `where`)."""
    fs, path = storage.filesystem(where)
    # Ray Data reports an actor's own error (an image file gone) as UserCodeException with ~70
    # lines of traceback and the error only as text; asked (on the dataset's own context), it
    # raises the original, whose one line we say (a bug of ours keeps its traceback)
    ds.context.raise_original_map_exception = True
    try:
        ds.write_parquet(path, filesystem=fs)
    except Exception as e:
        cause = innermost(e)
        if isinstance(cause, VdgrayError):  # Ray appends its retry advice on more lines
            raise type(cause)(str(cause).splitlines()[0]) from None
        raise
    rel = storage.list_relative(where, suffix=".parquet")
    return [storage.join(where, r) for r in rel], rel
