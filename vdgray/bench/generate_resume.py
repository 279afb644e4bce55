"""`vdgray bench generate --resume N`: what a `kill -9` halfway through costs.

Why: a generate job on a cluster gets pre-empted; its re-run should do only what was not
committed. The bench writes N pairs in ONE shard (as `vdgray mine` writes them), runs
`vdgray generate` uninterrupted, then runs it again into a new output, kills its whole
process group with SIGKILL at `kill_at` of the uninterrupted run's time, and re-runs it to the
end. It reports the three times, what the killed run had committed, and whether the resumed
output holds exactly the uninterrupted run's triplet ids, each once. Settings are the stage's
defaults (a resume has the same CPU plan as a first run).

`kill_after` (seconds) skips the uninterrupted run, for sizes where the three runs do not fit
one sitting: exactly once is then every id once and every pair accounted for (triplets +
failures + filtered = N, from the manifest). `s3=True` writes the output to a bucket on a
loopback S3 (moto's ThreadedMotoServer, as the tests use) that lives while the bench runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from vdgray import manifest, storage
from vdgray.bench.generate_scale import write_inputs
from vdgray.layout import TRIPLET_ID, TRIPLETS_STAGE


def _ids(output: str) -> list[str]:
    from vdgray.stages.generate.stage import data_files

    return [i for f in data_files(output)
            for i in storage.read_parquet(storage.join(output, f),
                                          columns=[TRIPLET_ID]).column(0).to_pylist()]


@contextlib.contextmanager
def loopback_bucket():
    """moto's S3 on 127.0.0.1 (`vdgray.loopback`), yielding a fresh bucket URI."""
    import uuid

    from vdgray.loopback import loopback_s3

    with loopback_s3("bench"):
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        storage.s3_client().create_bucket(Bucket=bucket)
        yield f"s3://{bucket}"


def run_resume(n: int, model_dir: str, *, num_cpus: int, kill_at: float = 0.5,
               backend: str = "transformers", extra: dict | None = None,
               kill_after: float | None = None, s3: bool = False) -> tuple[list[dict], dict]:
    """(rows: uninterrupted, killed, resumed; meta: exactly_once, same_ids, ratio)."""
    import contextlib

    with (loopback_bucket() if s3 else contextlib.nullcontext(None)) as bucket:
        return _run_resume(n, model_dir, num_cpus=num_cpus, kill_at=kill_at, backend=backend,
                           extra=extra, kill_after=kill_after, bucket=bucket)


def _run_resume(n, model_dir, *, num_cpus, kill_at, backend, extra, kill_after, bucket):
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

        base = bucket or root
        full_out, out = storage.join(base, "full"), storage.join(base, "killed")
        full = None if kill_after else timed(cmd(full_out))
        wait = kill_after if kill_after else full * kill_at
        proc = subprocess.Popen(cmd(out), start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(wait)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = len(_ids(out))
        resumed = timed(cmd(out))
        got = _ids(out)
        c = manifest.read_manifest(out, stage=TRIPLETS_STAGE)["counts"]
        want = _ids(full_out) if full else None
    accounted = c["triplets"] + c["failures"] + sum(
        v for k, v in c.items() if k.startswith("removed_"))
    rows = ([{"run": "uninterrupted", "seconds": round(full, 1), "triplets": len(want)}]
            if full else [])
    rows += [{"run": f"killed at {kill_at:.0%}" if full else f"killed at {wait:g} s",
              "seconds": round(wait, 1), "triplets": kept},
             {"run": "resumed", "seconds": round(resumed, 1), "triplets": len(got)}]
    meta = {"pairs": n, "shards": 1, "backend": backend, "ray_num_cpus": num_cpus,
            "storage": "s3 (loopback moto)" if bucket else "local",
            "exactly_once": len(got) == len(set(got)) == c["triplets"] and accounted == n,
            "pairs_accounted": accounted}
    if full:
        meta |= {"resume_vs_full": round(resumed / full, 2), "same_ids": sorted(got) == sorted(want)}
    return rows, meta
