"""A failure inside a Ray worker reaches the user as the worker's own: a bug with its
traceback and exit 1, a user error as its one line and exit 2 (real Ray Train and Ray Data)."""

from __future__ import annotations

import pytest
from helpers.layouts import cirr_layout

from vdgray.cli import main
from vdgray.error_report import report
from vdgray.errors import DataFormatError, innermost
from vdgray.runtime import ensure_ray

pytestmark = pytest.mark.integration


def _train_cir(tmp_path) -> list[str]:
    """train-cir on the tiny CIRR (it passes the driver's checks, so the loop runs)."""
    human, _ = cirr_layout(tmp_path, "img_raw")
    return ["train-cir", "--human", human, "--encoder", "tiny-clip", "-o", str(tmp_path / "m"),
            "-s", "max_failures=0", "-s", "batch_size=2"]


def test_a_bug_in_a_train_worker_prints_its_traceback_and_exits_1(ray_session, tmp_path,
                                                                  monkeypatch, capsys):
    from vdgray.train import cir_loop

    def buggy_loop(config):  # pickled by value: it runs in the Ray Train worker
        scores = {"epoch": 1}
        return scores["loss"]

    monkeypatch.setattr(cir_loop, "train_loop", buggy_loop)
    assert main(_train_cir(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "in buggy_loop" in err and 'return scores["loss"]' in err
    assert "KeyError: 'loss'" in err and "re-run with name=m to resume" in err
    assert err.rstrip().splitlines()[-1].startswith("error: unexpected KeyError: 'loss'")


def test_a_user_error_in_a_train_worker_is_one_line_exit_2(ray_session, tmp_path,
                                                           monkeypatch, capsys):
    from vdgray.train import cir_loop

    def unreadable(config):  # pickled by value: it runs in the Ray Train worker
        from vdgray.errors import DataFormatError

        raise DataFormatError("x.png: cannot decode image")

    monkeypatch.setattr(cir_loop, "train_loop", unreadable)
    assert main(_train_cir(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: x.png: cannot decode image"], err


def test_ray_data_tasks_raise_their_own_exception(ray_session, capsys):
    import ray

    ensure_ray()

    def bad_image(batch):
        raise DataFormatError("a.png: not an image")

    def bug(batch):
        return batch["no such column"]

    with pytest.raises(Exception) as user:
        ray.data.range(4).map_batches(bad_image).materialize()
    assert isinstance(innermost(user.value), DataFormatError)
    assert report(user.value) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: a.png: not an image"]

    with pytest.raises(Exception) as crash:
        ray.data.range(4).map_batches(bug).materialize()
    assert report(crash.value) == 1
    err = capsys.readouterr().err
    assert "in bug" in err and 'return batch["no such column"]' in err
    assert err.rstrip().splitlines()[-1].startswith("error: unexpected KeyError")
