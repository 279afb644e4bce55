"""FAISS inner-product indexes shared by the mine stage and the retriever service.

One place decides exact vs approximate (IndexFlatIP below a size, IVF above it, HNSW on
request), seeds IVF training so a rebuild gives the same index, moves an index to the GPUs
only when faiss reports some, and saves/loads through storage URIs so an index built on one
cluster can be served from another. FAISS errors become one-line vdgray errors.
"""

from __future__ import annotations

import math
from typing import Literal

import faiss
import numpy as np

from vdgray import storage
from vdgray.config import UseGpu
from vdgray.errors import ConfigError, DataFormatError, StorageError
from vdgray.runtime import cluster_gpus, resolve_use_gpu

IndexKind = Literal["auto", "flat", "ivf", "hnsw"]

DEFAULT_EXACT_MAX = 200_000


def auto_nlist(n: int) -> int:
    """IVF list count for `n` vectors: about 4*sqrt(n), at least 1, never more than n // 39."""
    nlist = int(round(4 * math.sqrt(max(n, 1))))
    return max(1, min(nlist, max(1, n // 39)))


def resolve_kind(kind: IndexKind, n: int, exact_max: int = DEFAULT_EXACT_MAX) -> str:
    """The concrete index kind: 'auto' is exact ('flat') up to `exact_max` vectors, else 'ivf'."""
    if kind not in ("auto", "flat", "ivf", "hnsw"):
        raise ConfigError(f"index kind {kind!r}: expected auto, flat, ivf or hnsw")
    if kind == "auto":
        return "flat" if n <= exact_max else "ivf"
    return kind


def gpus_available() -> int:
    """Number of GPUs faiss can use (0 with faiss-cpu)."""
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return int(get()) if get else 0
    except Exception:
        return 0


def want_gpu(use_gpu: UseGpu) -> bool:
    """`resolve_use_gpu` for FAISS: auto = GPUs faiss can use (of the Ray cluster's, when Ray
    is up here); true without faiss GPUs is a ConfigError (FAISS runs in this process).
    """
    n = gpus_available()
    if use_gpu and use_gpu != "auto" and n == 0:
        raise ConfigError("use_gpu: true, but faiss reports no GPUs (install faiss-gpu or set use_gpu: auto)")
    cluster = cluster_gpus()
    return resolve_use_gpu(use_gpu, n if cluster is None else min(n, cluster))


def _as_matrix(vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise DataFormatError(f"{what}: expected a 2-D float array (n, dim), got shape {arr.shape}")
    return arr


def _to_gpu(index: faiss.Index) -> faiss.Index:
    return faiss.index_cpu_to_all_gpus(index)


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Set the IVF probe count on a CPU or GPU index; a no-op for indexes without lists."""
    if gpus_available() and not hasattr(index, "nprobe") and hasattr(faiss, "GpuParameterSpace"):
        try:
            faiss.GpuParameterSpace().set_index_parameter(index, "nprobe", int(nprobe))
            return
        except Exception:
            pass
    try:
        ivf = faiss.extract_index_ivf(index)
    except (RuntimeError, AttributeError):
        return
    ivf.nprobe = int(nprobe)


def build_index(
    vectors: np.ndarray,
    *,
    kind: IndexKind = "auto",
    dim: int | None = None,
    exact_max: int = DEFAULT_EXACT_MAX,
    nlist: int | None = None,
    nprobe: int = 32,
    train_size: int = 200_000,
    train_iters: int = 10,
    hnsw_m: int = 32,
    use_gpu: UseGpu = "auto",
    seed: int = 0,
    add_batch: int = 65_536,
) -> faiss.Index:
    """An inner-product index over `vectors` (n, dim) float32 rows, ids = row positions.

    kind: 'flat' (exact IndexFlatIP), 'ivf' (IndexIVFFlat, `nlist` lists, default ~4*sqrt(n),
    trained on a seeded sample of `train_size` rows, searched with `nprobe`), 'hnsw'
    (IndexHNSWFlat, CPU only) or 'auto' (flat up to `exact_max` rows, else ivf). The index
    moves to all GPUs when `use_gpu` allows and faiss reports any.
    """
    x = _as_matrix(vectors)
    n_rows, d = x.shape
    if dim is not None and dim != d:
        raise DataFormatError(f"vectors: dimension {d}, expected {dim}")
    concrete = resolve_kind(kind, n_rows, exact_max)
    gpu = want_gpu(use_gpu) and concrete != "hnsw"
    if concrete == "flat":
        index: faiss.Index = faiss.IndexFlatIP(d)
    elif concrete == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
    else:
        lists = int(nlist) if nlist else auto_nlist(n_rows)
        if lists < 1 or lists > n_rows:
            raise ConfigError(f"ivf_nlist: {lists} lists for {n_rows} vectors (need 1..{n_rows})")
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = int(seed)
        index.cp.niter = int(train_iters)
        index.cp.max_points_per_centroid = max(39, -(-train_size // lists))
    if gpu:
        index = _to_gpu(index)
    if not index.is_trained:
        rng = np.random.default_rng(seed)
        m = min(n_rows, max(int(train_size), 1))
        sample = x if m == n_rows else x[np.sort(rng.choice(n_rows, size=m, replace=False))]
        index.train(sample)
    for start in range(0, n_rows, add_batch):
        index.add(x[start : start + add_batch])
    if concrete == "ivf":
        set_nprobe(index, nprobe)
    return index


def index_kind(index: faiss.Index) -> str:
    """A short name of an index's type ('IndexFlatIP', 'IndexIVFFlat', ...), GPU or CPU."""
    return type(index).__name__


def search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    batch: int = 16_384,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-`k` (similarities float32 (n, k), ids int64 (n, k)) for each query, in batches.

    Rows are sorted by decreasing similarity; missing neighbours (fewer than k reachable)
    have id -1 and similarity -inf. `progress(done_rows)` is called after each batch.
    """
    q = _as_matrix(queries, "queries")
    if q.shape[1] != index.d:
        raise DataFormatError(f"queries: dimension {q.shape[1]}, index has {index.d}")
    if k < 1:
        raise ConfigError(f"k: must be >= 1 (got {k})")
    n = q.shape[0]
    sims = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, max(1, int(batch))):
        stop = min(n, start + batch)
        d, i = index.search(q[start:stop], k)
        sims[start:stop] = d
        ids[start:stop] = i
        if progress is not None:
            progress(stop - start)
    sims[ids < 0] = -np.inf
    return sims, ids


def save_index(index: faiss.Index, uri: str) -> None:
    """Serialise an index (a GPU index is copied to the CPU first) to one file at `uri`."""
    cpu = index
    if gpus_available() and hasattr(faiss, "index_gpu_to_cpu"):
        try:
            cpu = faiss.index_gpu_to_cpu(index)
        except Exception:
            cpu = index
    data = faiss.serialize_index(cpu)
    storage.write_bytes(uri, np.asarray(data, dtype=np.uint8).tobytes())


def load_index(uri: str, use_gpu: UseGpu = "auto", nprobe: int | None = None) -> faiss.Index:
    """Read an index written by `save_index`; moves it to the GPUs when allowed."""
    raw = storage.read_bytes(uri)
    try:
        index = faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable"
        raise StorageError(f"{uri}: not a FAISS index ({first})") from None
    if want_gpu(use_gpu) and not isinstance(index, faiss.IndexHNSW):
        index = _to_gpu(index)
    if nprobe is not None:
        set_nprobe(index, nprobe)
    return index
