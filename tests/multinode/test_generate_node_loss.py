"""`vdgray generate` on a head and two worker nodes: its generator actors run on more than one
node, and a worker node lost without grace in the middle of the run costs no pair and no
duplicate: the job finishes by itself with the texts of an uninterrupted run."""

from __future__ import annotations

import io
import time

import numpy as np
import pyarrow as pa
import pytest
from helpers.node_loss import NodeKiller, map_actors

from vdgray import manifest, storage
from vdgray.config import load_config
from vdgray.errors import WorkerLostError
from vdgray.stages.generate.committed import committed_ids
from vdgray.stages.generate.stage import CHECKPOINT_DIR, GenerateConfig, run

N_IMAGES = 8  # 8 x 7 ordered pairs
GENERATOR = "TransformersGenerator"
STAGE_ACTORS = ("ImageJoiner", GENERATOR, "DeltaFilter")


def _png(i: int) -> bytes:
    from PIL import Image

    arr = (np.random.default_rng(i).random((32, 32, 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _inputs(root: str) -> dict:
    """A Parquet gallery, every ordered pair of its images, and a tiny random VDG export."""
    import tempfile

    from vdgray.models.checkpoint import upload_dir
    from vdgray.models.vdg.build import save_vdg, tiny_vdg
    from vdgray.stages.mine import PAIRS_SCHEMA, pair_ids

    ids = [f"img-{i:04d}" for i in range(N_IMAGES)]
    storage.write_parquet(storage.join(root, "gallery", "part-00000.parquet"),
                          pa.table({"image_id": ids,
                                    "image": pa.array([_png(i) for i in range(N_IMAGES)],
                                                      pa.binary())}))
    manifest.write_manifest(storage.join(root, "gallery"), stage="gallery",
                            files=["part-00000.parquet"])
    refs = [a for a in ids for b in ids if a != b]
    tgts = [b for a in ids for b in ids if a != b]
    storage.write_parquet(storage.join(root, "pairs", "part-00000.parquet"), pa.table(
        {"pair_id": pair_ids(refs, tgts), "reference_id": refs, "target_id": tgts,
         "similarity": pa.array([0.5] * len(refs), pa.float32()), "group_id": [0] * len(refs)},
        schema=PAIRS_SCHEMA))
    manifest.write_manifest(storage.join(root, "pairs"), stage="pairs",
                            files=["part-00000.parquet"])
    model, proc = tiny_vdg(seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        save_vdg(model, proc, tmp)
        files = upload_dir(tmp, storage.join(root, "vdg"))
    manifest.write_manifest(storage.join(root, "vdg"), stage="vdg-model", files=files)
    return {"root": root, "n_pairs": len(refs)}


def _config(inputs: dict, address: str, output: str) -> GenerateConfig:
    """Sampled (the default decoding), one pair per generate call so each delta is seeded by
    its own pair alone; one generator actor of 1.5 CPUs, which only a worker node (2 CPUs)
    can hold, and the other worker can take over; a commit every 4 triplets."""
    root = inputs["root"]
    sets = {"pairs": f"{root}/pairs", "gallery": f"{root}/gallery", "model": f"{root}/vdg",
            "output": output, "ray.address": address, "batch_size": 1, "block_rows": 4,
            "rows_per_file": 4, "num_cpus_per_actor": 1.5,
            "join_num_cpus": 0.1, "torch_threads": 1, "filters.enabled": "false"}
    return load_config(GenerateConfig, None, [f"{k}={v}" for k, v in sets.items()])


def _triplets(output: str) -> dict:
    """(reference, target) -> (triplet_id, text) of a finished output, from its manifest's
    files; a pair written twice fails here."""
    doc = manifest.read_manifest(output, stage="triplets")
    rows = storage.read_parquet([storage.join(output, f) for f in doc["files"]],
                                columns=["triplet_id", "reference_id", "target_id",
                                         "text"]).to_pylist()
    out = {(r["reference_id"], r["target_id"]): (r["triplet_id"], r["text"]) for r in rows}
    assert len(out) == len(rows), "a pair was generated more than once"
    return out


def _accounted(output: str, n_pairs: int) -> None:
    c = manifest.read_manifest(output, stage="triplets")["counts"]
    removed = sum(v for k, v in c.items() if k.startswith("removed_"))
    assert c["pairs"] == n_pairs and c["failures"] == 0
    assert c["triplets"] + removed == n_pairs


@pytest.mark.skip(reason=(
    "hangs in 2 of 4 tier runs: after the node loss the restarted generator sits idle and the "
    "job never finishes (issue #32, open); README 'Losing a node'"))
def test_generate_spreads_over_nodes_and_survives_losing_one(make_cluster, tmp_path):
    cluster = make_cluster(head_cpus=1, worker_cpus=(2, 2), dashboard=True)
    inputs = _inputs(str(tmp_path / "in"))
    n = inputs["n_pairs"]

    whole = str(tmp_path / "whole")
    run(_config(inputs, cluster.address, whole))
    _accounted(whole, n)
    expected = _triplets(whole)
    assert len(expected) > n // 2 and len({t for _, t in expected.values()}) > n // 4
    print("uninterrupted run, actors:", {udf: map_actors(udf) for udf in STAGE_ACTORS})

    lossy = str(tmp_path / "lossy")
    ckpt = storage.join(lossy, CHECKPOINT_DIR)
    killer = NodeKiller(cluster, GENERATOR, lambda: len(committed_ids(ckpt)))
    killer.start()
    t0 = time.monotonic()
    stopped = None
    try:
        summary = run(_config(inputs, cluster.address, lossy))
    except WorkerLostError as e:  # Ray reported the lost actor unavailable instead of retrying
        stopped = str(e)
    finally:
        killer.stop.set()
        killer.join(timeout=120)
    print(f"killed {killer.node_id} with {killer.at_kill} of {n} committed; the run took "
          f"{time.monotonic() - t0:.0f} s")
    assert killer.error is None, killer.error
    assert killer.node_id is not None, "the run ended before a worker node could be killed"
    assert 0 < killer.at_kill < n, f"{killer.at_kill} of {n} pairs committed at the kill"
    if stopped is None:
        # the generator ran on the killed node, then was restarted on another, which finished
        now = {a["node_id"] for a in map_actors(GENERATOR) if a["actor_id"] in killer.actor_ids}
        assert now and killer.node_id not in now, (killer.node_id, map_actors(GENERATOR))
        assert summary["resumed"] is False  # it finished by itself, no re-run
    else:
        # the other outcome the README names: one line, the commits kept, a re-run finishes
        print("the run stopped:", stopped)
        assert "\n" not in stopped and "re-run the same command" in stopped
        assert run(_config(inputs, cluster.address, lossy))["resumed"] is True
    _accounted(lossy, n)
    assert _triplets(lossy) == expected
