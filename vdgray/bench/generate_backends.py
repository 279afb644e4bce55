"""`vdgray bench generate --backends transformers,vllm`: the whole `vdgray generate` stage
with each backend on the same exported VDG and the same pairs, in one run.

Why: vLLM is what clusters generate millions of triplets with; this says what it buys over the
batched transformers backend on the machine at hand. Each backend runs on its own fresh local
Ray (same CPUs) from the same inputs (`generate_scale.write_inputs`), and reports triplets/s
of the stage, the time to its first committed shard (`rows_per_file` triplets: what a killed
run would keep), and peak memory of the driver and of every Ray worker with its children (a
vLLM engine runs in a child process of its Ray actor). Pairs/s is the engines' comparison:
both generate for every pair, while the filter may keep different numbers of their texts.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

import numpy as np

from vdgray.bench.generate_scale import run_fresh, write_inputs
from vdgray.stages.generate.stage import committed_checkpoints


class FirstCommit:
    """Seconds from start until the first committed checkpoint file appears under `output`."""

    def __init__(self, output: str, interval_s: float = 0.2):
        self._output = output
        self._interval = interval_s
        self._stop = threading.Event()
        self.seconds: float | None = None
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set() and self.seconds is None:
            try:
                done = committed_checkpoints(self._output)
            except Exception:  # the output is not there yet
                done = 0
            if done:
                self.seconds = time.perf_counter() - self._t0
            self._stop.wait(self._interval)

    def __enter__(self) -> FirstCommit:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_backends(backends: list[str], model_dir: str, *, n: int, num_cpus: int,
                 batch_size: int, max_new_tokens: int, threads: int | None,
                 rows_per_file: int) -> list[dict]:
    """One `generate` run per backend on the same inputs; a row of throughput and memory each."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        paths = write_inputs(root, n, int(np.ceil(np.sqrt(n))) + 2, model_dir)
        for backend in backends:
            output = os.path.join(root, f"triplets-{backend}")
            sets = {**paths, "output": output, "backend": backend, "batch_size": batch_size,
                    "block_rows": max(batch_size, 256), "rows_per_file": rows_per_file,
                    "sampling.max_new_tokens": max_new_tokens, "ray.num_cpus": num_cpus,
                    "num_cpus_per_actor": 1.0}
            if threads and backend == "transformers":
                sets["torch_threads"] = threads
            first = FirstCommit(output)
            summary, wall, rss = run_fresh(sets, first)
            rows.append({"backend": backend, "pairs": n, "triplets": summary["triplets"],
                         "wall_s": round(wall, 1),
                         "pairs_per_s": round(n / wall, 2),
                         "triplets_per_s": summary["triplets_per_s"],
                         "first_commit_s": None if first.seconds is None else round(first.seconds, 1),
                         "driver_peak_rss_mb": round(rss.driver_peak / 2**20, 1),
                         "workers_peak_rss_mb": round(rss.workers_peak / 2**20, 1)})
    return rows
