"""`vdgray bench generate --floor N`: the whole `vdgray generate` pipeline with no model work.

Why: the model's cost hides the pipeline's at the sizes a CPU can generate. With
`NoopGenerator` in the generator's place, N pairs (one shard, as `vdgray mine` writes them)
go through the real read (triplet ids), gallery lookup, filters, committed Parquet writes and
end of run on a fresh local Ray: the most pairs/s any backend can reach on these CPUs, the
memory the pipeline itself needs (flat in N if it streams), and what the end of a run costs
when it has one checkpoint per shard. The output is read back: every pair once.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from vdgray import storage
from vdgray.bench.generate_scale import RssSampler, write_inputs


def _run_noop(sets: dict) -> tuple[dict, float, RssSampler]:
    import ray

    from vdgray.bench.generate_noop import NoopGenerator
    from vdgray.config import load_config
    from vdgray.stages.generate.stage import GenerateConfig, run

    cfg = load_config(GenerateConfig, None, [f"{k}={v}" for k, v in sets.items()])
    if ray.is_initialized():
        ray.shutdown()
    t0 = time.perf_counter()
    try:
        with RssSampler() as rss:
            summary = run(cfg, generator_cls=NoopGenerator)
    finally:
        ray.shutdown()
    return summary, time.perf_counter() - t0, rss


def output_ids(output: str) -> list[str]:
    """Every triplet id of a finished output, shard by shard."""
    from vdgray.layout import TRIPLET_ID
    from vdgray.stages.generate.stage import data_files

    return [i for f in data_files(output)
            for i in storage.read_parquet(storage.join(output, f),
                                          columns=[TRIPLET_ID]).column(0).to_pylist()]


def run_floor(n: int, model_dir: str, *, num_cpus: int, batch_size: int,
              rows_per_file: int) -> dict:
    """One floor run of n pairs: a row of throughput, peak RSS and end-of-run times."""
    with tempfile.TemporaryDirectory() as root:
        paths = write_inputs(root, n, int(np.ceil(np.sqrt(n))) + 2, model_dir, shard_rows=n)
        output = os.path.join(root, "triplets")
        sets = {**paths, "output": output, "batch_size": batch_size,
                "block_rows": max(batch_size, 256), "rows_per_file": rows_per_file,
                "ray.num_cpus": num_cpus, "num_cpus_per_actor": 1.0}
        summary, wall, rss = _run_noop(sets)
        ids = output_ids(output)
    finish = summary["finish_s"]
    generate_s = summary["generate_s"]
    return {"pairs": n, "triplets": summary["triplets"], "shards": summary["shards"],
            "wall_s": round(wall, 1), "generate_s": round(generate_s, 1),
            "pairs_per_s": round(n / max(generate_s, 1e-9), 1),
            "driver_peak_rss_mb": round(rss.driver_peak / 2**20, 1),
            "workers_peak_rss_mb": round(rss.workers_peak / 2**20, 1),
            "finish_s": round(sum(finish.values()), 2), **finish,
            "exactly_once": len(ids) == len(set(ids)) == n}
