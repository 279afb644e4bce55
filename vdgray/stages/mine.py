"""`vdgray mine`: reference-target pairs from embedding neighbourhoods (CIRR procedure).

Reads a finished `embeddings` output batch by batch with pyarrow (vectors only, never
images), builds a FAISS inner-product index (exact below `exact_max` images, IVF above,
on the GPUs when faiss has some), searches every image's top-k neighbours in batches, forms
disjoint subgroups with the CIRR rules (see vdgray.index.groups) and writes all ordered pairs
inside each subgroup as the `pairs` contract. Anchors are visited in image_id order and shard
names are fixed, so the output is deterministic for a fixed input and config.
"""

from __future__ import annotations

import hashlib
import time
from typing import Literal

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator
from tqdm import tqdm

from vdgray import index as vindex
from vdgray import manifest, storage
from vdgray.config import StageConfig, UseGpu, resolved
from vdgray.errors import ConfigError, DataFormatError, StorageError
from vdgray.index.groups import drop_self, form_groups, group_pairs, pair_similarity
from vdgray.layout import EMBEDDINGS_COLUMNS, EMBEDDINGS_STAGE, PAIRS_SCHEMA, PAIRS_STAGE
from vdgray.stage_options import build_config, config_options

# Rows per Parquet row group of a pairs shard: `generate` reads one row group per task, so
# this bounds a read task's memory (ids only, ~120 B a pair) however large the shard is.
PAIRS_ROW_GROUP_ROWS = 65_536


class MineConfig(StageConfig):
    """Pair mining: where to read embeddings, where to write pairs, and every mining threshold."""

    embeddings: str = Field(..., description="URI of a finished `embeddings` output (Parquet + manifest).")
    output: str = Field(..., description="URI prefix to write the `pairs` output to.")
    top_k: int = Field(20, ge=1, description="Neighbours searched per image (the image itself excluded).")
    max_similarity: float = Field(
        0.94, gt=0.0, le=1.0, description="Neighbours more similar than this are near duplicates and skipped."
    )
    min_gap: float = Field(
        0.002, ge=0.0, lt=1.0,
        description="A neighbour within this similarity of the previously added one is skipped.",
    )
    group_size: int = Field(6, ge=2, description="Images per subgroup, anchor included.")
    require_full_group: bool = Field(
        True, description="Keep only subgroups of exactly group_size (CIRR); false keeps any of >= 2."
    )
    index: Literal["auto", "flat", "ivf", "hnsw"] = Field(
        "auto", description="FAISS index: auto = exact IndexFlatIP up to exact_max images, else IVF."
    )
    exact_max: int = Field(200_000, ge=1, description="Largest image count searched exactly under index=auto.")
    ivf_nlist: int | None = Field(None, ge=1, description="IVF lists; None = about 4*sqrt(images).")
    nprobe: int = Field(
        16, ge=1, description="IVF lists probed per query (raise it for higher recall, lower speed)."
    )
    train_size: int = Field(200_000, ge=1, description="Vectors sampled (seeded) to train the IVF quantizer.")
    search_batch: int = Field(16_384, ge=1, description="Queries per FAISS search call (and rows per read batch).")
    rows_per_shard: int = Field(1_000_000, ge=1, description="Pairs per output Parquet shard.")
    norm_tolerance: float = Field(
        1e-3, gt=0.0, description="Largest allowed | ||embedding|| - 1 | (inputs must be L2-normalised)."
    )
    use_gpu: UseGpu = Field(
        "auto", description="FAISS on GPU: auto = when faiss reports GPUs; true requires them."
    )
    seed: int = Field(0, description="Seed of the IVF training sample and k-means.")
    overwrite: bool = Field(False, description="Replace a finished output at `output`.")

    @model_validator(mode="after")
    def _check(self) -> MineConfig:
        if self.top_k < self.group_size - 1:
            raise ValueError(
                f"top_k ({self.top_k}) must be >= group_size - 1 ({self.group_size - 1}) "
                "or no subgroup can fill"
            )
        if self.ivf_nlist is not None and self.nprobe > self.ivf_nlist:
            raise ValueError(f"nprobe ({self.nprobe}) must be <= ivf_nlist ({self.ivf_nlist})")
        if self.embeddings.rstrip("/") == self.output.rstrip("/"):
            raise ValueError("output must differ from embeddings")
        return self


def _fail(uri: str, what: str) -> DataFormatError:
    return DataFormatError(f"{uri}: {what}")


def _embedding_matrix(col: pa.ChunkedArray | pa.Array, dim: int | None, uri: str) -> np.ndarray:
    """(rows, D) float32 from a fixed_size_list / list column, rejecting nulls and ragged rows."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        raise _fail(uri, "column embedding has null rows")
    if pa.types.is_fixed_size_list(arr.type):
        d = arr.type.list_size
    elif pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        d = int(lengths[0]) if len(lengths) else (dim or 0)
        if len(lengths) and (lengths != d).any():
            raise _fail(uri, f"column embedding has rows of different lengths (row 0 has {d})")
    else:
        raise _fail(uri, f"column embedding has type {arr.type}, expected fixed_size_list<float32>")
    if dim is not None and d != dim:
        raise _fail(uri, f"column embedding has dimension {d}, manifest says dim {dim}")
    values = arr.flatten()
    if not pa.types.is_floating(values.type):
        raise _fail(uri, f"column embedding holds {values.type}, expected float32")
    return values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, d)


def load_embeddings(uri: str, batch_rows: int = 16_384, norm_tolerance: float = 1e-3):
    """(image_ids: pa.StringArray, vectors: (n, D) float32, manifest) of a finished output.

    Streams each shard in batches into one preallocated matrix; checks columns, dimension,
    unit norms and unique ids, raising DataFormatError naming the file and row.
    """
    doc = manifest.read_manifest(uri, stage=EMBEDDINGS_STAGE)
    files = manifest.dataset_files(uri, stage=EMBEDDINGS_STAGE)
    if not files:
        raise StorageError(f"{uri}: manifest lists no data files")
    dim = doc.get("dim")
    dim = int(dim) if dim is not None else None
    sizes = []
    for f in files:
        pf = storage.open_parquet(f)
        names = pf.schema_arrow.names
        for col in EMBEDDINGS_COLUMNS:
            if col not in names:
                raise _fail(f, f"missing column {col!r} (has {names})")
        sizes.append(pf.metadata.num_rows)
    n = sum(sizes)
    if n == 0:
        raise _fail(uri, "embeddings output has no rows")
    vectors: np.ndarray | None = np.empty((n, dim), dtype=np.float32) if dim else None
    id_chunks: list[pa.Array] = []
    row = 0
    bar = tqdm(total=n, desc="mine: read embeddings", unit="img", mininterval=5)
    for f in files:
        pf = storage.open_parquet(f)
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(EMBEDDINGS_COLUMNS)):
            ids = batch.column("image_id")
            if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
                raise _fail(f, f"column image_id has type {ids.type}, expected string")
            if ids.null_count:
                raise _fail(f, "column image_id has null rows")
            mat = _embedding_matrix(batch.column("embedding"), dim, f)
            if vectors is None:
                dim = mat.shape[1]
                vectors = np.empty((n, dim), dtype=np.float32)
            norms = np.linalg.norm(mat, axis=1)
            bad = np.nonzero(~(np.abs(norms - 1.0) <= norm_tolerance))[0]
            if len(bad):
                r = int(bad[0])
                raise _fail(f, f"image_id {ids[r].as_py()!r}: embedding norm {norms[r]:.4f}, "
                               "expected L2-normalised vectors")
            vectors[row : row + len(mat)] = mat
            id_chunks.append(ids.cast(pa.string()))
            row += len(mat)
            bar.update(len(mat))
    bar.close()
    image_ids = pa.concat_arrays(id_chunks)
    if pc.count_distinct(image_ids).as_py() != len(image_ids):
        counts = pc.value_counts(image_ids)
        dup = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise _fail(uri, f"image_id {dup!r} appears more than once")
    return image_ids, vectors, doc


class NeighbourSearch:
    """Per-batch top-k search: {"embedding": (b, D)} -> adds neighbour_ids / neighbour_sims.

    Asks FAISS for k + 1 neighbours so an image's own entry can be dropped later and k real
    neighbours remain. Drops into Ray Data map_batches for an index small enough to ship.
    """

    def __init__(self, index, k: int):
        self.index = index
        self.k = k + 1

    def __call__(self, batch: dict) -> dict:
        sims, ids = vindex.search(self.index, np.asarray(batch["embedding"]), self.k,
                                  batch=len(batch["embedding"]) or 1)
        return {**batch, "neighbour_ids": ids, "neighbour_sims": sims}


def pair_ids(ref_ids: np.ndarray, tgt_ids: np.ndarray) -> list[str]:
    """Deterministic pair ids: 16 hex digits of blake2b(reference_id NUL target_id)."""
    return [
        hashlib.blake2b(f"{r}\x00{t}".encode(), digest_size=8).hexdigest()
        for r, t in zip(ref_ids, tgt_ids, strict=True)
    ]


def _check_output(cfg: MineConfig) -> None:
    storage.ensure_bucket(cfg.output)
    if manifest.is_complete(cfg.output) and not cfg.overwrite:
        raise StorageError(f"{cfg.output}: a finished output exists (set overwrite=true to replace it)")


def run(cfg: MineConfig) -> dict:
    """Mine pairs from `cfg.embeddings` into `cfg.output`; returns a summary dict."""
    t0 = time.perf_counter()
    storage.check_uri(cfg.embeddings)
    storage.check_uri(cfg.output)
    _check_output(cfg)
    image_ids, vectors, emb_doc = load_embeddings(cfg.embeddings, cfg.search_batch, cfg.norm_tolerance)
    n, dim = vectors.shape
    t_read = time.perf_counter()

    kind = vindex.resolve_kind(cfg.index, n, cfg.exact_max)
    nlist = cfg.ivf_nlist or vindex.auto_nlist(n)
    if kind == "ivf" and nlist > n:
        raise ConfigError(f"ivf_nlist: {nlist} lists for only {n} images")
    index = vindex.build_index(
        vectors, kind=kind, nlist=nlist, nprobe=cfg.nprobe, train_size=cfg.train_size,
        use_gpu=cfg.use_gpu, seed=cfg.seed,
    )
    t_build = time.perf_counter()

    k = min(cfg.top_k, n - 1) if n > 1 else 1
    searcher = NeighbourSearch(index, k)
    sims = np.empty((n, k + 1), dtype=np.float32)
    nbrs = np.empty((n, k + 1), dtype=np.int64)
    with tqdm(total=n, desc="mine: search", unit="img", mininterval=5) as bar:
        for start in range(0, n, cfg.search_batch):
            out = searcher({"embedding": vectors[start : start + cfg.search_batch]})
            sims[start : start + len(out["neighbour_ids"])] = out["neighbour_sims"]
            nbrs[start : start + len(out["neighbour_ids"])] = out["neighbour_ids"]
            bar.update(len(out["neighbour_ids"]))
    del index, searcher
    sims, nbrs = drop_self(sims, nbrs, k)
    t_search = time.perf_counter()

    order = pc.sort_indices(image_ids).to_numpy()
    with tqdm(total=n, desc="mine: group", unit="img", mininterval=5) as bar:
        members, offsets = form_groups(
            sims, nbrs, group_size=cfg.group_size, max_similarity=cfg.max_similarity,
            min_gap=cfg.min_gap, require_full_group=cfg.require_full_group, order=order,
            progress=bar.update,
        )
    del sims, nbrs
    ref, tgt, gid = group_pairs(members, offsets)
    sim = pair_similarity(vectors, ref, tgt)
    t_group = time.perf_counter()

    storage.delete_prefix(cfg.output)  # a replaced or partial earlier output
    files = _write_pairs(cfg, image_ids, ref, tgt, sim, gid)
    counts = {"images": int(n), "grouped_images": int(len(members)),
              "groups": int(len(offsets) - 1), "pairs": int(len(ref))}
    timings = {"read_s": t_read - t0, "build_s": t_build - t_read, "search_s": t_search - t_build,
               "group_s": t_group - t_search, "write_s": time.perf_counter() - t_group}
    wall = time.perf_counter() - t0
    index_info = {"kind": kind, "faiss_class": _faiss_class(kind), "nlist": nlist if kind == "ivf" else None,
                  "nprobe": cfg.nprobe if kind == "ivf" else None,
                  "gpu": vindex.want_gpu(cfg.use_gpu) and kind != "hnsw"}
    manifest.write_manifest(
        cfg.output, stage=PAIRS_STAGE, config=resolved(cfg), inputs={"embeddings": cfg.embeddings},
        counts=counts, files=files, wall_time_s=wall,
        extra={
            "index": index_info,
            "thresholds": {"top_k": cfg.top_k, "max_similarity": cfg.max_similarity,
                           "min_gap": cfg.min_gap, "group_size": cfg.group_size,
                           "require_full_group": cfg.require_full_group},
            "encoder": emb_doc.get("encoder"),
            "dim": int(dim),
            "timings_s": {k_: round(v, 3) for k_, v in timings.items()},
        },
    )
    return {"output": cfg.output, **counts, "index": kind, "wall_time_s": round(wall, 3),
            **{k_: round(v, 3) for k_, v in timings.items()}}


def _faiss_class(kind: str) -> str:
    return {"flat": "IndexFlatIP", "ivf": "IndexIVFFlat", "hnsw": "IndexHNSWFlat"}[kind]


def _write_pairs(cfg: MineConfig, image_ids: pa.Array, ref, tgt, sim, gid) -> list[str]:
    """Write pairs in shards of rows_per_shard (one empty shard when there are none)."""
    files = []
    total = len(ref)
    for i, start in enumerate(range(0, max(total, 1), cfg.rows_per_shard)):
        sl = slice(start, start + cfg.rows_per_shard)
        r_ids = image_ids.take(pa.array(ref[sl]))
        t_ids = image_ids.take(pa.array(tgt[sl]))
        table = pa.table({
            "pair_id": pa.array(pair_ids(r_ids.to_pylist(), t_ids.to_pylist()), pa.string()),
            "reference_id": r_ids,
            "target_id": t_ids,
            "similarity": pa.array(sim[sl], pa.float32()),
            "group_id": pa.array(gid[sl], pa.int64()),
        }, schema=PAIRS_SCHEMA)
        name = f"part-{i:05d}.parquet"
        storage.write_parquet(storage.join(cfg.output, name), table,
                              row_group_size=PAIRS_ROW_GROUP_ROWS)
        files.append(name)
    return files


@click.command("mine")
@config_options
@click.option("--embeddings", default=None, help="Embeddings URI (shortcut for --set embeddings=...).")
@click.option("--output", "-o", default=None, help="Output URI (shortcut for --set output=...).")
def command(config_path, overrides, embeddings, output):
    """Mine reference-target pairs from image embeddings (FAISS + CIRR subgroups)."""
    cfg = build_config(MineConfig, config_path, overrides, embeddings=embeddings, output=output)
    summary = run(cfg)
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
