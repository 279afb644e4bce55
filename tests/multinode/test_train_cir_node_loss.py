"""train-cir with two DDP workers (gloo) on two worker nodes, one node lost mid-run.

The head has no CPU (the driver, the Train controller and the progress queue live there) and
three worker nodes one CPU each, so each rank gets a node of its own and one node is spare, as
an autoscaler would provide a replacement. Once Ray Train has taken the run's first
checkpoint, the node of one rank is killed without grace; Train restarts the group on the
surviving node and the spare from the latest checkpoint. The run must finish, must not redo
the epochs before that checkpoint, and must end with the same weights as an uninterrupted run
on the same cluster. (The spare is there from the start: `Cluster.add_node` cannot run in the
test's background thread, and the main thread is inside the run.)
"""

from __future__ import annotations

import ray
from helpers.train_failures import (
    alive_train_workers,
    first_checkpoint,
    in_background,
    resume_points,
    same_weights,
)
from helpers.worlds import synth_world

from vdgray.models.cir import load_cir
from vdgray.runtime import RayConfig
from vdgray.stages.train_cir import TrainCirConfig, run

EPOCHS = 6


def _cfg(world: str, out: str) -> TrainCirConfig:
    return TrainCirConfig(
        human={"format": "world", "root": world}, output=out, epochs=EPOCHS, batch_size=4,
        lr=1e-3, num_workers=2, torch_threads=1, seed=3, max_failures=3,
        model={"kind": "combiner", "encoder": "tiny-clip"},  # dropout 0.5: RNG matters
        ray=RayConfig())  # the test's cluster, joined by make_cluster


def test_train_cir_survives_a_lost_node_and_ends_with_the_same_weights(make_cluster, tmp_path,
                                                                       capsys):
    cluster = make_cluster(head_cpus=0, worker_cpus=(1, 1, 1))
    world = synth_world(str(tmp_path / "world"), n_gallery=24, n_train=24, n_val=8, n_test=8)

    whole = run(_cfg(world, str(tmp_path / "whole" / "model")))
    assert whole["epoch"] == EPOCHS and whole["steps"] == 24 // (4 * 2)
    capsys.readouterr()

    out = tmp_path / "lost" / "model"

    def lose_a_node() -> dict:
        first_checkpoint(out.parent / "ray-train" / "model")
        ranks_on = [a["Address"]["NodeID"] for a in alive_train_workers()]
        lost = next(w for w in cluster.workers if w.node_id in ranks_on)
        cluster.kill(lost)
        return {"ranks_on": ranks_on, "lost": lost.node_id}

    killer, killed = in_background(lose_a_node)
    res = run(_cfg(world, str(out)))
    killer.join(timeout=120)
    assert killed and not isinstance(killed[0], BaseException), killed
    lines = capsys.readouterr().out

    ranks_on = killed[0]["ranks_on"]
    assert len(ranks_on) == 2 and len(set(ranks_on)) == 2  # one rank per node
    assert killed[0]["lost"] not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert res["epoch"] == EPOCHS and 1 <= res["resumed_from_epoch"] < EPOCHS, lines
    resumed = resume_points(lines, "train-cir")
    assert resumed, lines
    for e in range(1, resumed[0] + 1):  # checkpointed before the loss: never trained again
        assert lines.count(f"train-cir: epoch {e}/{EPOCHS} ") == 1, lines
    assert same_weights(load_cir(str(out)), load_cir(str(tmp_path / "whole" / "model"))) == []
