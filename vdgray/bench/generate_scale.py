"""`vdgray bench generate --scale N1,N2,...`: the whole `vdgray generate` stage at growing pair
counts, with the driver's and the Ray workers' peak memory.

Why: the stage must stream (pairs are read in blocks, images are looked up on actors, shards
are written as they fill), never collecting the gallery or all pairs on the driver. If it
does, peak RSS grows with the pair count; if it streams, it stays flat while the work grows.
Each size runs on its own fresh local Ray (same CPUs), with a fixed gallery of synthetic PNGs
and a small random VDG, and a psutil sampler adds up the RSS of every `ray::` worker process
this process started (the raylet, GCS and agents are not counted).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

import numpy as np
import pyarrow as pa

from vdgray import manifest, storage
from vdgray.layout import GALLERY, GALLERY_STAGE, PAIRS_SCHEMA, PAIRS_STAGE, VDG_MODEL_STAGE

PAIRS_PER_SHARD = 10_000


class RssSampler:
    """Peak RSS (bytes) of this process and of the sum of its `ray::` worker descendants."""

    def __init__(self, interval_s: float = 0.25):
        import psutil

        self._me = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self.driver_peak = self.workers_peak = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _workers_rss(self) -> int:
        """`ray::` workers and their own children (a vLLM engine is a child of its actor)."""
        import psutil

        def is_worker(p) -> bool:
            return p.name().startswith("ray::") or " ".join(p.cmdline()[:1]).startswith("ray::")

        total = 0
        for p in self._me.children(recursive=True):
            try:
                if is_worker(p) or any(is_worker(a) for a in p.parents()):
                    total += p.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.driver_peak = max(self.driver_peak, self._me.memory_info().rss)
            self.workers_peak = max(self.workers_peak, self._workers_rss())
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def write_inputs(root: str, n_pairs: int, n_images: int, model_dir: str,
                 shard_rows: int = PAIRS_PER_SHARD) -> dict:
    """A gallery of `n_images` PNGs, `n_pairs` distinct ordered pairs over it in shards of
    `shard_rows` (`vdgray mine` writes one shard per run), and the model."""
    from vdgray.bench.embed import synthetic_pngs
    from vdgray.models.checkpoint import upload_dir
    from vdgray.stages.mine import PAIRS_ROW_GROUP_ROWS, pair_ids

    if n_pairs > n_images * (n_images - 1):
        raise ValueError(f"{n_pairs} pairs need more than {n_images} images")
    ids = [f"img-{i:08d}" for i in range(n_images)]
    gallery = storage.join(root, GALLERY)  # laid out like a world's gallery/
    storage.write_parquet(storage.join(gallery, "part-00000.parquet"),
                          pa.table({"image_id": ids,
                                    "image": pa.array(synthetic_pngs(n_images, size=32), pa.binary())}),
                          row_group_size=64)
    manifest.write_manifest(gallery, stage=GALLERY_STAGE, files=["part-00000.parquet"])
    # Pair k: reference k // (n-1), target the (k % (n-1))-th other image: all distinct.
    k = np.arange(n_pairs)
    ref = k // (n_images - 1)
    off = k % (n_images - 1)
    tgt = np.where(off >= ref, off + 1, off)
    pairs = storage.join(root, "pairs")
    files = []
    for s in range(0, n_pairs, shard_rows):
        refs = [ids[i] for i in ref[s:s + shard_rows]]
        tgts = [ids[i] for i in tgt[s:s + shard_rows]]
        name = f"part-{len(files):05d}.parquet"
        storage.write_parquet(storage.join(pairs, name), pa.table({
            "pair_id": pair_ids(refs, tgts), "reference_id": refs, "target_id": tgts,
            "similarity": pa.array([0.5] * len(refs), pa.float32()),
            "group_id": pa.array(ref[s:s + shard_rows], pa.int64())}, schema=PAIRS_SCHEMA),
            row_group_size=PAIRS_ROW_GROUP_ROWS)
        files.append(name)
    manifest.write_manifest(pairs, stage=PAIRS_STAGE, files=files)
    vdg = storage.join(root, "vdg")
    manifest.write_manifest(vdg, stage=VDG_MODEL_STAGE, files=upload_dir(model_dir, vdg))
    return {"pairs": pairs, "gallery": gallery, "model": vdg}


def run_fresh(sets: dict, *watchers) -> tuple[dict, float, RssSampler]:
    """`vdgray generate` with `sets` on a fresh local Ray, under an RssSampler and any other
    watchers (context managers); returns (summary, wall seconds, the sampler)."""
    import contextlib

    import ray

    from vdgray.config import load_config
    from vdgray.stages.generate.stage import GenerateConfig, run

    cfg = load_config(GenerateConfig, None, [f"{k}={v}" for k, v in sets.items()])
    if ray.is_initialized():
        ray.shutdown()
    t0 = time.perf_counter()
    try:
        with RssSampler() as rss, contextlib.ExitStack() as stack:
            for watcher in watchers:
                stack.enter_context(watcher)
            summary = run(cfg)
    finally:
        ray.shutdown()
    return summary, time.perf_counter() - t0, rss


def run_scale(sizes: list[int], model_dir: str, *, num_cpus: int, batch_size: int,
              max_new_tokens: int, threads: int | None, single_shard: bool = False) -> list[dict]:
    """One `generate` run per size on a fresh local Ray; a row of throughput and peak RSS each
    (`single_shard`: all pairs in one shard, as `vdgray mine` writes them)."""
    n_images = int(np.ceil(np.sqrt(max(sizes)))) + 2
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as root:
            paths = write_inputs(root, n, n_images, model_dir,
                                 shard_rows=n if single_shard else PAIRS_PER_SHARD)
            sets = {**paths, "output": os.path.join(root, "triplets"), "batch_size": batch_size,
                    "block_rows": max(batch_size, 256), "sampling.max_new_tokens": max_new_tokens,
                    "ray.num_cpus": num_cpus, "num_cpus_per_actor": 1.0}
            if threads:
                sets["torch_threads"] = threads
            summary, wall, rss = run_fresh(sets)
            filtered = sum(v for k, v in summary.items() if k.startswith("removed_"))
            rows.append({"pairs": n, "shards": len(manifest.dataset_files(paths["pairs"], stage=PAIRS_STAGE)),
                         "triplets": summary["triplets"], "filtered": filtered,
                         "failures": summary["failures"], "wall_s": round(wall, 1),
                         "pairs_per_s": round(n / summary["wall_time_s"], 1),
                         "triplets_per_s": summary["triplets_per_s"],
                         "driver_peak_rss_mb": round(rss.driver_peak / 2**20, 1),
                         "workers_peak_rss_mb": round(rss.workers_peak / 2**20, 1)})
    return rows
