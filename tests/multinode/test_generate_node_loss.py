"""`vdgray generate` on a head and two worker nodes: its generator actor runs on a worker node,
and that node lost without grace in the middle of the run costs no pair and no duplicate: the
job finishes by itself (Ray restarts the actor on the other worker and retries its batch) with
the texts of an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import tempfile

from helpers.node_loss import NodeKiller, map_actors
from helpers.paths import BIN

from vdgray import manifest, storage
from vdgray.bench.generate_scale import write_inputs
from vdgray.config import load_config
from vdgray.errors import WorkerLostError
from vdgray.layout import TRIPLETS_STAGE
from vdgray.stages.generate.committed import committed_ids
from vdgray.stages.generate.stage import CHECKPOINT_DIR, GenerateConfig, run

N_IMAGES = 8
N_PAIRS = N_IMAGES * (N_IMAGES - 1)  # every ordered pair
GENERATOR = "TransformersGenerator"
STAGE_ACTORS = ("ImageJoiner", GENERATOR, "DeltaFilter")


def _inputs(root: str) -> dict:
    """A gallery, every ordered pair of its images, and a tiny random VDG export."""
    from vdgray.models.vdg.build import save_vdg, tiny_vdg

    with tempfile.TemporaryDirectory() as tmp:
        save_vdg(*tiny_vdg(seed=0), tmp)
        return write_inputs(root, N_PAIRS, N_IMAGES, tmp)


def _settings(inputs: dict, address: str, output: str) -> list[str]:
    """Sampled (the default decoding), one pair per generate call so each delta is seeded by
    its own pair alone; one generator actor of 1.5 CPUs, which only a worker node (2 CPUs)
    can hold, and the other worker can take over; a commit every 4 triplets."""
    sets = {**inputs, "output": output, "ray.address": address, "batch_size": 1,
            "block_rows": 4, "rows_per_file": 4, "num_cpus_per_actor": 1.5,
            "join_num_cpus": 0.1, "torch_threads": 1, "filters.enabled": "false"}
    return [f"{k}={v}" for k, v in sets.items()]


def _triplets(output: str) -> dict:
    """(reference, target) -> (triplet_id, text) of a finished output, from its manifest's
    files; a pair written twice fails here."""
    doc = manifest.read_manifest(output, stage=TRIPLETS_STAGE)
    rows = storage.read_parquet([storage.join(output, f) for f in doc["files"]],
                                columns=["triplet_id", "reference_id", "target_id",
                                         "text"]).to_pylist()
    out = {(r["reference_id"], r["target_id"]): (r["triplet_id"], r["text"]) for r in rows}
    assert len(out) == len(rows), "a pair was generated more than once"
    return out


def _accounted(output: str) -> None:
    c = manifest.read_manifest(output, stage=TRIPLETS_STAGE)["counts"]
    removed = sum(v for k, v in c.items() if k.startswith("removed_"))
    assert c["pairs"] == N_PAIRS and c["failures"] == 0
    assert c["triplets"] + removed == N_PAIRS


def _rerun_as_a_user(settings: list[str], output: str) -> None:
    """`vdgray generate` again, as the one-line error says: a new driver on the same cluster
    (in this process, pytest's log capture would keep the failed run's actors alive)."""
    argv = [str(BIN / "vdgray"), "generate", *[a for s in settings for a in ("--set", s)]]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert manifest.read_manifest(output, stage=TRIPLETS_STAGE)["resumed"] is True


def test_generate_spreads_over_nodes_and_survives_losing_one(make_cluster, tmp_path):
    cluster = make_cluster(head_cpus=1, worker_cpus=(2, 2), dashboard=True)
    inputs = _inputs(str(tmp_path / "in"))

    whole = str(tmp_path / "whole")
    run(load_config(GenerateConfig, None, _settings(inputs, cluster.address, whole)))
    _accounted(whole)
    expected = _triplets(whole)
    assert len(expected) > N_PAIRS // 2 and len({t for _, t in expected.values()}) > N_PAIRS // 4
    print("uninterrupted run, actors:", {udf: map_actors(udf) for udf in STAGE_ACTORS})

    lossy = str(tmp_path / "lossy")
    settings = _settings(inputs, cluster.address, lossy)
    ckpt = storage.join(lossy, CHECKPOINT_DIR)
    stopped = None
    with NodeKiller(cluster, GENERATOR, lambda: len(committed_ids(ckpt))) as killer:
        try:
            summary = run(load_config(GenerateConfig, None, settings))
        except WorkerLostError as e:  # the outcome docs/clusters.md names if Ray gives up
            stopped = str(e)
    killer.assert_killed_mid_run(N_PAIRS)
    if stopped is None:  # what max_task_retries=-1 gives (3 of 3 runs when it was chosen)
        killer.assert_restarted_elsewhere()
        assert summary["resumed"] is False  # it finished by itself, no re-run
    else:
        print("the run stopped:", stopped)
        assert "\n" not in stopped and "re-run the same command" in stopped
        _rerun_as_a_user(settings, lossy)
    _accounted(lossy)
    assert _triplets(lossy) == expected
