"""`vdgray bench mine`: is the IVF index worth it for all-neighbour search at mining scale?

Builds exact (IndexFlatIP) and IVF indexes over synthetic clustered unit vectors (a two-level
Gaussian mixture: uniform random high-dimensional vectors have no neighbourhoods, so recall on
them means nothing) and measures build time, all-neighbour search time, peak memory and the
IVF's recall@k against exact search, as the mine stage runs it (k + 1 searched, self dropped).
Exact search of every vector is quadratic, so by default it runs on a random subset of queries
and its full time is extrapolated linearly; rows say so. Recall is measured on that subset.
"""

from __future__ import annotations

import resource
import threading
import time

import click
import faiss
import numpy as np
import psutil

from vdgray import index as vindex
from vdgray.bench.report import report
from vdgray.index.groups import drop_self, form_groups
from vdgray.stages.mine import MineConfig


def clustered_vectors(n: int, dim: int, clusters: int, noise: float, seed: int = 0,
                      super_clusters: int | None = None, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) float32 unit vectors: super-centres -> centres -> points, each level + noise.

    `noise` is the norm of a point's offset from its centre relative to the centre's (unit)
    norm; centres sit around `super_clusters` super-centres the same way, so clusters overlap
    the way semantic neighbourhoods of real image embeddings do.
    """
    rng = np.random.default_rng(seed)
    supers = super_clusters or max(1, clusters // 20)

    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    sup = unit(rng.standard_normal((supers, dim), dtype=np.float32))
    cen = unit(sup[rng.integers(0, supers, clusters)]
               + rng.standard_normal((clusters, dim), dtype=np.float32) / np.sqrt(dim))
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x = cen[rng.integers(0, clusters, m)]
        x += (noise / np.sqrt(dim)) * rng.standard_normal((m, dim), dtype=np.float32)
        out[s : s + m] = unit(x)
    return out


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 50 ms)."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.peak_gib = self.peak / 2**30


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each true top-k list present in the found list."""
    hits = sum(len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True))
    return float(hits / max(1, int((truth >= 0).sum())))


def _search_all(index, x: np.ndarray, k: int, batch: int, label: str) -> tuple[np.ndarray, np.ndarray]:
    from tqdm import tqdm

    with tqdm(total=len(x), desc=label, unit="q", mininterval=10) as bar:
        return vindex.search(index, x, k + 1, batch=batch, progress=bar.update)


def run_bench(n: int, dim: int, k: int, nlist: int | None, nprobe: int, clusters: int | None,
              noise: float, exact_queries: int, train_size: int, threads: int, seed: int,
              batch: int = 16_384) -> tuple[list[dict], dict]:
    """Measure exact vs IVF; returns (table rows, meta)."""
    faiss.omp_set_num_threads(threads)
    clusters = clusters or max(1, n // 100)
    t = time.perf_counter()
    x = clustered_vectors(n, dim, clusters, noise, seed)
    gen_s = time.perf_counter() - t
    rng = np.random.default_rng(seed + 1)
    q_rows = np.sort(rng.choice(n, size=min(exact_queries, n), replace=False))
    extrapolated = len(q_rows) < n
    rows = []

    with PeakRSS() as mem:
        t = time.perf_counter()
        flat = vindex.build_index(x, kind="flat", use_gpu=False)
        flat_build = time.perf_counter() - t
        t = time.perf_counter()
        ts, ti = vindex.search(flat, x[q_rows], k + 1, batch=batch)
        flat_sub = time.perf_counter() - t
    _, truth = drop_self(ts, ti, k, query_ids=q_rows)
    del flat
    flat_search = flat_sub * n / len(q_rows)
    rows.append({"index": "exact IndexFlatIP", "build_s": flat_build, "search_s": flat_search,
                 "total_s": flat_build + flat_search, "queries_timed": len(q_rows),
                 "search_extrapolated": extrapolated, "peak_rss_gib": mem.peak_gib,
                 "recall_at_k": 1.0, "speedup": 1.0})

    lists = nlist or vindex.auto_nlist(n)
    with PeakRSS() as mem:
        t = time.perf_counter()
        ivf = vindex.build_index(x, kind="ivf", nlist=lists, nprobe=nprobe, train_size=train_size,
                                 seed=seed, use_gpu=False)
        ivf_build = time.perf_counter() - t
        t = time.perf_counter()
        sims, ids = _search_all(ivf, x, k, batch, "ivf search")
        ivf_search = time.perf_counter() - t
    del ivf
    sims, ids = drop_self(sims, ids, k)
    rec = recall_at_k(ids[q_rows], truth)
    ivf_total = ivf_build + ivf_search
    rows.append({"index": f"IVF{lists},Flat nprobe={nprobe}", "build_s": ivf_build,
                 "search_s": ivf_search, "total_s": ivf_total, "queries_timed": n,
                 "search_extrapolated": False, "peak_rss_gib": mem.peak_gib, "recall_at_k": rec,
                 "speedup": (flat_build + flat_search) / ivf_total})

    cfg = MineConfig(embeddings="-", output="--")
    t = time.perf_counter()
    members, offsets = form_groups(sims, ids, group_size=cfg.group_size,
                                   max_similarity=cfg.max_similarity, min_gap=cfg.min_gap)
    group_s = time.perf_counter() - t
    meta = {
        "n": n, "dim": dim, "k": k, "nlist": lists, "nprobe": nprobe, "clusters": clusters,
        "noise": noise, "train_size": train_size, "faiss_threads": threads,
        "exact_queries": len(q_rows), "data_gen_s": round(gen_s, 2),
        "cirr_grouping_s": round(group_s, 2), "cirr_groups": int(len(offsets) - 1),
        "cirr_pairs": int(sum(s * (s - 1) for s in np.diff(offsets).tolist())),
        "process_max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "goal": "recall_at_k >= 0.95 at speedup >= 5",
        "goal_met": bool(rec >= 0.95 and rows[-1]["speedup"] >= 5),
        "note": ("exact search time extrapolated linearly from exact_queries random queries; "
                 "recall measured on the same queries") if extrapolated else "exact search timed in full",
    }
    return rows, meta


@click.command("mine")
@click.option("--n", "n", default=1_000_000, show_default=True, help="Vectors (and queries).")
@click.option("--dim", default=256, show_default=True, help="Vector dimension.")
@click.option("--k", "k", default=20, show_default=True, help="Neighbours per vector.")
@click.option("--nlist", default=None, type=int, help="IVF lists (default ~4*sqrt(n)).")
@click.option("--nprobe", default=None, type=int, help="IVF lists probed (default: mine's nprobe).")
@click.option("--clusters", default=None, type=int, help="Mixture components (default n/100).")
@click.option("--noise", default=1.0, show_default=True, help="Point offset norm relative to its centre.")
@click.option("--exact-queries", default=10_000, show_default=True,
              help="Queries timed with exact search (time extrapolated to n).")
@click.option("--train-size", default=None, type=int, help="IVF training sample (default: mine's).")
@click.option("--threads", default=2, show_default=True, help="FAISS OpenMP threads.")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="bench-results/mine.json", show_default=True, help="JSON path or URI.")
def command(n, dim, k, nlist, nprobe, clusters, noise, exact_queries, train_size, threads, seed, out):
    """FAISS IVF vs exact all-neighbour search: build + search time, peak memory, recall@k."""
    defaults = MineConfig(embeddings="-", output="--")
    rows, meta = run_bench(n, dim, k, nlist, nprobe or defaults.nprobe, clusters, noise,
                           exact_queries, train_size or defaults.train_size, threads, seed)
    report("mine", rows, out, meta)
