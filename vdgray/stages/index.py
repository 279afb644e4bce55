"""`vdgray index`: embed a gallery with a trained retriever and write a FAISS index for serving.

The gallery is embedded with the CIR model's *target* encoder (the side the server compares
queries against) on Ray Data, with the same `gallery_embed` actor pool as `vdgray eval`:
- a CIRR split (of a synthetic world or real CIRR; `split` set; its images found as the loader
  finds them, or at `image_root`, and all checked first) goes through eval's gallery
  embedding cache, so indexing what was just evaluated costs nothing and serves exactly the
  vectors the offline evaluation ranked;
- any other gallery (world `gallery/`, Parquet with image bytes, an image folder) streams
  through that pool (undecodable images are left out and counted), and the embeddings are
  kept as Parquet under `embeddings/`.
The output prefix holds `index.faiss` (flat up to `exact_max` vectors, else IVF, or HNSW on
request; on the GPU when faiss has one), `ids.parquet` (row position -> image_id) and a
manifest (stage "index") that names the model, the gallery source (so a server can look up a
reference image by id) and the index kind. The manifest is written last.
"""

from __future__ import annotations

import time
from typing import Literal

import click
import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from vdgray import manifest, storage
from vdgray.config import Uri, UseGpu, resolved
from vdgray.data.image_root import IMAGE_ROOT_HELP
from vdgray.errors import DataFormatError
from vdgray.gallery_embed import (
    EncoderPool,
    EncoderPoolFields,
    embed_batches,
    embedding_matrix,
    write_embeddings,
)
from vdgray.layout import (
    EMBEDDINGS_DIR,
    EMBEDDINGS_STAGE,
    IDS_FILE,
    INDEX_FILE,
    INDEX_STAGE,
    eval_cache_uri,
    gallery_cache_key,
    split_root,
)
from vdgray.runtime import ensure_ray, resolve_use_gpu
from vdgray.stage_options import build_config, config_options


class IndexConfig(EncoderPoolFields):
    """Settings of `vdgray index`."""

    model: Uri = Field(..., description="CIR model dir URI (the output of train-cir); its target encoder embeds the gallery.")
    gallery: Uri = Field(..., description="Gallery URI: a synthetic world, a CIRR root (with `split`), Parquet (image_id, image) or an image folder.")
    split: str | None = Field(None, description="CIRR split to index (val, test1, train): the gallery is that split's images (a world's cirr/ or a CIRR root). None: the whole gallery.")
    image_root: Uri | None = Field(None, description="With `split`: " + IMAGE_ROOT_HELP)
    output: Uri = Field(..., description="Output prefix: index.faiss, ids.parquet, _manifest.json.")
    cache: Uri | None = Field(None, description="Gallery-embedding cache for split galleries (default: <output's parent>/eval-cache, shared with `vdgray eval`).")
    kind: Literal["auto", "flat", "ivf", "hnsw"] = Field("auto", description="FAISS index: flat (exact), ivf, hnsw, or auto (flat up to exact_max vectors, else ivf).")
    exact_max: int = Field(200_000, ge=1, description="Largest gallery `auto` indexes exactly.")
    nlist: int | None = Field(None, ge=1, description="IVF lists (default ~4*sqrt(n)).")
    nprobe: int = Field(32, ge=1, description="IVF lists probed per query (stored with the index).")
    hnsw_m: int = Field(32, ge=2, description="HNSW neighbours per node.")
    use_gpu: UseGpu = Field("auto", description="Build the FAISS index on the GPU: auto (when faiss has one), true or false.")
    embed_gpu: UseGpu = Field(False, description="One GPU per encoder actor: false, true, or auto (when the cluster has GPUs).")
    overwrite: bool = Field(False, description="Rebuild a finished index.")

    @model_validator(mode="after")
    def _check(self):
        if self.split is not None and self.split not in ("train", "val", "test1"):
            raise ValueError(f"split: expected train, val or test1 (or unset), got {self.split!r}")
        if self.image_root is not None and self.split is None:
            raise ValueError("image_root: only used with split (a CIRR split's images)")
        if self.cache is not None and self.split is None:
            raise ValueError("cache: only used with split (a whole gallery is embedded into output/embeddings)")
        return self

    def cache_uri(self) -> str:
        return eval_cache_uri(self.output, self.cache)


def _embed_split(cfg: IndexConfig) -> tuple[list[str], np.ndarray, dict]:
    from vdgray.data.cirr import load_cirr
    from vdgray.eval.cir_embed import gallery_embeddings

    root, fmt = split_root(cfg.gallery)
    # the image root found (or given) and every image checked before Ray embeds them
    split = load_cirr(root, cfg.split, image_root=cfg.image_root, check_images=True)
    table = split.images_table()
    # the same key as `vdgray eval` on this data, so both share one cached embedding
    key = gallery_cache_key(fmt, cfg.gallery, cfg.split, "cirr", table.num_rows,
                            split.image_root)
    storage.ensure_bucket(cfg.cache_uri())
    emb, hit = gallery_embeddings(cfg.model, table, cfg.cache_uri(), key, cfg.batch_size,
                                  cfg.concurrency, cfg.num_cpus_per_actor,
                                  resolve_use_gpu(cfg.embed_gpu),
                                  ray_cfg=cfg.ray, what=cfg.output)
    names = split.gallery_names
    vectors = np.stack([emb[n] for n in names]).astype(np.float32)
    return names, vectors, {"cache_hit": hit, "failed": 0, "image_root": split.image_root}


def _embed_gallery(cfg: IndexConfig) -> tuple[list[str], np.ndarray, dict]:
    from vdgray.data.gallery import gallery_rows, read_gallery, resolve_gallery

    src = resolve_gallery(cfg.gallery)
    total = gallery_rows(src)
    where = storage.join(cfg.output, EMBEDDINGS_DIR)
    pool = EncoderPool(cfg.model, "target", cfg.batch_size, cfg.concurrency,
                       cfg.num_cpus_per_actor, resolve_use_gpu(cfg.embed_gpu))
    pool.check({"read": 0.25}, cfg.ray, cfg.output)
    storage.delete_prefix(where)
    ds = read_gallery(cfg.gallery, src, num_cpus=0.25)
    ds = ds.repartition(target_num_rows_per_block=4 * cfg.batch_size)
    files, rel = write_embeddings(embed_batches(ds, pool), where)
    table = storage.read_parquet(files) if files else None
    if table is None or table.num_rows == 0:
        raise DataFormatError(f"{cfg.gallery}: no image of the gallery could be embedded")
    names = table.column("image_id").to_pylist()
    vectors = embedding_matrix(table)
    manifest.write_manifest(where, stage=EMBEDDINGS_STAGE, inputs={"model": cfg.model,
                                                                "gallery": cfg.gallery},
                            counts={"images": len(names)}, files=rel)
    return names, vectors, {"failed": total - len(names)}


def write_index(output: str, names: list[str], vectors: np.ndarray, *, model: str,
                source: dict, kind: str = "auto", exact_max: int = 200_000,
                nlist: int | None = None, nprobe: int = 32, hnsw_m: int = 32,
                use_gpu="auto", config: dict | None = None, wall_time_s: float | None = None,
                extra: dict | None = None) -> dict:
    """Build a FAISS index over `vectors` (row i = `names[i]`) and write the index prefix.

    `source` says where reference images can be looked up by id ({"gallery": uri} or
    {"gallery": uri, "split": name}); it is recorded in the manifest for the server.
    """
    from vdgray.index import build_index, index_kind, resolve_kind, save_index

    if len(set(names)) != len(names):
        raise DataFormatError(f"{source.get('gallery')}: duplicate image ids in the gallery")
    if len(names) != len(vectors):
        raise DataFormatError(f"{output}: {len(names)} ids for {len(vectors)} vectors")
    concrete = resolve_kind(kind, len(names), exact_max)
    index = build_index(vectors, kind=concrete, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                        use_gpu=use_gpu)
    save_index(index, storage.join(output, INDEX_FILE))
    storage.write_parquet(storage.join(output, IDS_FILE),
                          pa.table({"image_id": pa.array(names, pa.string())}))
    info = {"model": model, "source": source, "kind": concrete,
            "faiss_type": index_kind(index), "dim": int(vectors.shape[1]),
            "ntotal": int(index.ntotal), "nprobe": nprobe, **(extra or {})}
    manifest.write_manifest(output, stage=INDEX_STAGE, config=config or {},
                            inputs={"model": model, "gallery": source.get("gallery", "")},
                            counts={"vectors": len(names)}, files=[INDEX_FILE, IDS_FILE],
                            wall_time_s=wall_time_s, extra={"index": info})
    return info


def run(cfg: IndexConfig) -> dict:
    """Embed the gallery and write the index; returns {"output", "vectors", "kind", ...}."""
    t0 = time.time()
    if manifest.is_complete(cfg.output, INDEX_STAGE) and not cfg.overwrite:
        doc = manifest.read_manifest(cfg.output, INDEX_STAGE)
        click.echo(f"index: {cfg.output} is already complete (set overwrite=true to rebuild)")
        return {"output": cfg.output, "skipped": True, "vectors": doc["counts"]["vectors"],
                "kind": doc["index"]["kind"]}
    storage.ensure_bucket(cfg.output)
    ensure_ray(cfg.ray)
    if cfg.split:
        names, vectors, extra = _embed_split(cfg)
        # the server reads reference images by id from here (serve's image_root overrides)
        source = {"gallery": cfg.gallery, "split": cfg.split, "image_root": extra["image_root"]}
    else:
        names, vectors, extra = _embed_gallery(cfg)
        source = {"gallery": cfg.gallery}
    click.echo(f"index: embedded {len(names)} images in {time.time() - t0:.1f}s; building "
               f"the FAISS index")
    info = write_index(cfg.output, names, vectors, model=cfg.model, source=source,
                       kind=cfg.kind, exact_max=cfg.exact_max, nlist=cfg.nlist,
                       nprobe=cfg.nprobe, hnsw_m=cfg.hnsw_m, use_gpu=cfg.use_gpu,
                       config=resolved(cfg), wall_time_s=time.time() - t0, extra=extra)
    wall = time.time() - t0
    click.echo(f"index: {info['ntotal']} vectors ({info['faiss_type']}, dim {info['dim']}) "
               f"in {wall:.1f}s -> {cfg.output}")
    return {"output": cfg.output, "vectors": info["ntotal"], "kind": info["kind"],
            "faiss_type": info["faiss_type"], "dim": info["dim"], "wall_time_s": wall, **extra}


@click.command("index")
@config_options
@click.option("--model", default=None, help="CIR model URI (overrides model).")
@click.option("--gallery", default=None, help="Gallery / world URI (overrides gallery).")
@click.option("--split", default=None, help="CIRR split to index (overrides split).")
@click.option("--output", "-o", default=None, help="Output URI (overrides output).")
def command(config_path, overrides, model, gallery, split, output):
    """Embed a gallery with a trained retriever and write a FAISS index for serving."""
    cfg = build_config(IndexConfig, config_path, overrides, model=model, gallery=gallery,
                       split=split, output=output)
    run(cfg)
