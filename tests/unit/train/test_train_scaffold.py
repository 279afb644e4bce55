"""The training scaffold the three trainers share, without Ray: schedule, train state, publish,
and the driver's skip of a finished output."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from vdgray import manifest
from vdgray.train.driver import Training, train_and_publish
from vdgray.train.publish import publish
from vdgray.train.ray_run import TrainRunConfig
from vdgray.train.schedule import lr_lambda, warmup_scheduler
from vdgray.train.worker import (
    RNG_STATE,
    TRAIN_STATE,
    check_finite,
    load_train_state,
    save_train_state,
)


def test_lr_warms_up_linearly_then_decays_by_cosine_to_zero():
    f = lr_lambda(total=10, warmup=2)
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == pytest.approx(1.0)
    assert f(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(10) == pytest.approx(0.0) and f(50) == pytest.approx(0.0)


def test_step_schedule_decays_by_gamma_every_step_size():
    f = lr_lambda(total=100, warmup=1, schedule="step", step_size=3, gamma=0.5)
    assert [f(1), f(3), f(4), f(7)] == [1.0, 1.0, 0.5, 0.25]


def _opt_sched():
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.AdamW([p], lr=1.0)
    return p, opt, warmup_scheduler(opt, total=8, warmup=2)


def test_train_state_round_trips_optimizer_scheduler_and_progress(tmp_path):
    p, opt, sched = _opt_sched()
    for _ in range(3):
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
    save_train_state(str(tmp_path), opt, sched, epoch=4, history=[1.0])
    _, opt2, sched2 = _opt_sched()
    state = load_train_state(str(tmp_path), opt2, sched2)
    assert state["epoch"] == 4 and state["history"] == [1.0]
    assert sched2.last_epoch == sched.last_epoch == 3
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_check_finite_stops_on_nan_and_names_where():
    check_finite(0.5, "epoch 1")
    with pytest.raises(FloatingPointError, match="at step 7"):
        check_finite(float("nan"), "step 7")


class _Checkpoint:
    def __init__(self, d: Path):
        self.d = d

    @contextmanager
    def as_directory(self):
        yield str(self.d)


def test_publish_writes_the_model_files_alone_and_clears_the_output(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for name in ("config.json", TRAIN_STATE, RNG_STATE, ".hidden"):
        (ckpt / name).write_text(name)
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.bin").write_text("old")
    assert publish(_Checkpoint(ckpt), str(out)) == ["config.json"]
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]

    def build(d: str, local: Path) -> None:
        (local / "adapter").mkdir(parents=True)
        (local / "adapter" / "w.bin").write_text(Path(d, "config.json").read_text())

    assert publish(_Checkpoint(ckpt), str(out), build) == ["adapter/w.bin"]
    assert not (out / "config.json").exists()


class _Cfg(TrainRunConfig):
    output: str


def test_a_finished_output_is_kept_unless_overwrite(tmp_path, capsys):
    out = str(tmp_path / "model")
    manifest.write_manifest(out, stage="model", extra={"metrics": {"loss": 0.25}})

    def never(*_):
        raise AssertionError("a finished output must not be retrained")

    training = Training(command="train-x", stage="model", loop=never, what="x",
                        loop_config=never, inputs={}, counts=never, extra={}, summary=never,
                        check=never)
    assert train_and_publish(_Cfg(output=out), training) == {
        "output": out, "skipped": True, "loss": 0.25}
    assert "train-x: " + out + " already holds a model" in capsys.readouterr().out
