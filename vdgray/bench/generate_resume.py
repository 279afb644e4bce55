"""`vdgray bench generate --resume N`: what a `kill -9` halfway through costs.

Why: a generate job on a cluster gets pre-empted; its re-run should do only what was not
committed. The bench writes N pairs in ONE shard (as `vdgray mine` writes them), runs
`vdgray generate` uninterrupted, then runs it again into a new output, kills its whole
process group with SIGKILL at `kill_at` of the uninterrupted run's time, and re-runs it to the
end. It reports the three times, what the killed run had committed, and whether the resumed
output holds exactly the uninterrupted run's triplet ids, each once. Settings are the stage's
defaults (a resume has the same CPU plan as a first run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from vdgray import storage
from vdgray.bench.generate_scale import write_inputs
from vdgray.layout import TRIPLET_ID


def _ids(output: str) -> list[str]:
    from vdgray.stages.generate.stage import data_files

    return [i for f in data_files(output)
            for i in storage.read_parquet(storage.join(output, f),
                                          columns=[TRIPLET_ID]).column(0).to_pylist()]


def run_resume(n: int, model_dir: str, *, num_cpus: int, kill_at: float = 0.5,
               backend: str = "transformers", extra: dict | None = None) -> tuple[list[dict], dict]:
    """(rows: uninterrupted, killed, resumed; meta: exactly_once, same_ids, ratio)."""
    vdgray_bin = os.path.join(os.path.dirname(sys.executable), "vdgray")
    with tempfile.TemporaryDirectory() as root:
        paths = write_inputs(root, n, int(np.ceil(np.sqrt(n))) + 2, model_dir, shard_rows=n)

        def cmd(output: str) -> list[str]:
            sets = {**paths, "output": output, "backend": backend, "ray.num_cpus": num_cpus,
                    **(extra or {})}
            return [vdgray_bin, "generate", *sum((["--set", f"{k}={v}"] for k, v in sets.items()), [])]

        def timed(args: list[str]) -> float:
            t0 = time.perf_counter()
            r = subprocess.run(args, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"vdgray generate failed:\n{r.stderr[-2000:]}")
            return time.perf_counter() - t0

        full_out, out = os.path.join(root, "full"), os.path.join(root, "killed")
        full = timed(cmd(full_out))
        proc = subprocess.Popen(cmd(out), start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(full * kill_at)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = len(_ids(out))
        resumed = timed(cmd(out))
        want, got = _ids(full_out), _ids(out)
    rows = [{"run": "uninterrupted", "seconds": round(full, 1), "triplets": len(want)},
            {"run": f"killed at {kill_at:.0%}", "seconds": round(full * kill_at, 1),
             "triplets": kept},
            {"run": "resumed", "seconds": round(resumed, 1), "triplets": len(got)}]
    meta = {"pairs": n, "shards": 1, "backend": backend, "ray_num_cpus": num_cpus,
            "resume_vs_full": round(resumed / full, 2),
            "exactly_once": len(got) == len(set(got)), "same_ids": sorted(got) == sorted(want)}
    return rows, meta
