"""`vdgray train-cir` on Ray Train: a tiny world, human + oracle pseudo triplets, resume, DDP."""

from __future__ import annotations

import pytest
from helpers.family_pairs import write_family_pairs
from helpers.train_failures import (
    kill_a_worker_after_first_checkpoint,
    resume_points,
    same_weights,
)
from helpers.worlds import synth_world

from vdgray import manifest
from vdgray.data.synthetic.oracle import write_oracle_triplets
from vdgray.errors import ConfigError
from vdgray.models.cir import load_cir
from vdgray.runtime import RayConfig
from vdgray.stages.train_cir import TrainCirConfig, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory, ray_session):
    """A small synthetic world and oracle pseudo triplets over its aux gallery."""
    root = tmp_path_factory.mktemp("cirworld")
    w = synth_world(str(root / "world"), n_gallery=40, n_train=24, n_val=12, n_test=12)
    pairs, pseudo = str(root / "pairs"), str(root / "pseudo")
    write_family_pairs(w, pairs)
    counts = write_oracle_triplets(w, manifest.read_dataset(pairs), pseudo)
    assert counts["triplets"] > 0
    return {"world": w, "pseudo": pseudo, "gallery": f"{w}/gallery", "root": root}


def _cfg(world, out, **kw):
    base = dict(human={"format": "world", "root": world["world"]}, output=out, epochs=1,
                batch_size=8, lr=1e-3, ray=RayConfig(num_cpus=2),
                model={"kind": "combiner", "encoder": "tiny-clip"})
    return TrainCirConfig(**{**base, **kw})


def test_train_with_pseudo_then_resume_from_checkpoint(world, tmp_path):
    out = str(tmp_path / "model")
    first = run(_cfg(world, out, pseudo=world["pseudo"], pseudo_gallery=world["gallery"],
                     pseudo_ratio=0.5))
    assert first["epoch"] == 1 and first["resumed_from_epoch"] == 0
    assert first["human_triplets"] == 24 and first["pseudo_triplets"] > 0
    doc = manifest.read_manifest(out, "cir-model")
    assert "cir_config.json" in doc["files"] and "train_state.pt" not in doc["files"]
    model = load_cir(out)
    assert model.kind == "combiner"
    # a rerun under the same run name continues after the last finished epoch
    second = run(_cfg(world, out, pseudo=world["pseudo"], pseudo_gallery=world["gallery"],
                      pseudo_ratio=0.5, epochs=2, overwrite=True))
    assert second["epoch"] == 2 and second["resumed_from_epoch"] == 1
    # and a finished output is not retrained unless asked
    assert run(_cfg(world, out, epochs=2))["skipped"] is True


def test_supervised_blip_with_two_ddp_workers(world, tmp_path):
    out = str(tmp_path / "blip")
    res = run(_cfg(world, out, model={"kind": "blip", "encoder": "tiny-blip"}, num_workers=2,
                   batch_size=4, torch_threads=1))
    assert res["steps"] == 24 // (4 * 2) and res["pseudo_triplets"] == 0
    assert res["loss_tdm"] > 0
    assert load_cir(out).kind == "blip"


def test_config_rejects_pseudo_without_gallery(world, tmp_path):
    with pytest.raises(ValueError, match="pseudo_gallery"):
        _cfg(world, str(tmp_path / "m"), pseudo=world["pseudo"])
    from vdgray.config import load_config

    with pytest.raises(ConfigError, match="model.kind"):
        load_config(TrainCirConfig, None, [f"human.root={world['world']}", "output=/tmp/x",
                                           "model.kind=vit"])


def test_a_run_whose_worker_is_killed_resumes_and_ends_with_the_same_weights(world, tmp_path,
                                                                             capsys):
    """A worker process SIGKILLed after the first checkpoint: Train restarts the group from the
    latest checkpoint, the epochs before it are not redone, and (random state, data order and
    optimiser restored) the model equals an uninterrupted run's, tensor for tensor."""
    kw = dict(pseudo=world["pseudo"], pseudo_gallery=world["gallery"], pseudo_ratio=0.5,
              epochs=8, torch_threads=1)  # the combiner's dropout draws from torch's RNG
    run(_cfg(world, str(tmp_path / "whole" / "model"), **kw))
    capsys.readouterr()

    out = tmp_path / "killed" / "model"
    killer, killed = kill_a_worker_after_first_checkpoint(out.parent / "ray-train" / "model")
    res = run(_cfg(world, str(out), **kw))
    killer.join(timeout=60)
    assert killed and not isinstance(killed[0], BaseException), killed
    lines = capsys.readouterr().out
    assert 1 <= res["resumed_from_epoch"] < 8 and res["epoch"] == 8, lines
    resumed = resume_points(lines, "train-cir")
    assert resumed, lines
    for e in range(1, resumed[0] + 1):  # done once, before the checkpoint the run resumed from
        assert lines.count(f"train-cir: epoch {e}/8 ") == 1, lines
    assert same_weights(load_cir(str(out)), load_cir(str(tmp_path / "whole" / "model"))) == []
