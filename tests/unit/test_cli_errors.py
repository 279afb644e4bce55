"""How a failure reaches the user: a user error is one `error:` line and exit 2, a bug its
traceback (the worker's own, under Ray's wrappers) and exit 1, from the CLI and the job entry.

Ray's real exception classes wrap the errors here, built in this process (no Ray running)."""

from __future__ import annotations

import pytest
from ray.exceptions import RayTaskError
from ray.train.v2.api.exceptions import WorkerGroupError

from vdgray import jobs
from vdgray.cli import main
from vdgray.errors import DataFormatError
from vdgray.stages import synth

WORKER_TRACEBACK = ('Traceback (most recent call last):\n'
                    '  File "/worker/decode.py", line 7, in decode_one\n'
                    '    raise KeyError("image_id")\n'
                    "KeyError: 'image_id'")


def _task_error(cause: BaseException) -> RayTaskError:
    """What `ray.get` / Ray Data raise on the driver when a task raised `cause`."""
    return RayTaskError("decode_one", WORKER_TRACEBACK, cause,
                        proctitle="ray::decode_one()").as_instanceof_cause()


def _run_raising(monkeypatch, error: BaseException) -> None:
    """`vdgray synth` raises `error` from inside its command, driver frame `_driver_side`."""
    def _driver_side(cfg):
        raise error

    monkeypatch.setattr(synth, "run", _driver_side)


def _synth(tmp_path, *extra) -> list[str]:
    return [*extra, "synth", "--output", str(tmp_path / "w")]


def test_a_bug_inside_a_command_prints_its_traceback_and_exits_1(monkeypatch, tmp_path, capsys):
    def deep_inside(cfg):
        return {}["no such key"]

    monkeypatch.setattr(synth, "run", deep_inside)
    assert main(_synth(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "in deep_inside" in err and 'return {}["no such key"]' in err
    assert err.rstrip().splitlines()[-1].startswith("error: unexpected KeyError: 'no such key'")


@pytest.mark.parametrize("wrap", [
    lambda e: _task_error(e),
    lambda e: WorkerGroupError("[Rank 0 Error Snippet]: ...", {1: KeyError("x"), 0: e}),
    lambda e: WorkerGroupError("[Rank 0 Error Snippet]: ...", {0: _task_error(e)}),
], ids=["ray-task", "train-worker-group", "train-worker-running-a-task"])
def test_a_user_error_under_ray_wrappers_is_one_line_exit_2(monkeypatch, tmp_path, capsys, wrap):
    # Ray Data appends its retry advice to a task exception's message: not ours to print.
    _run_raising(monkeypatch, wrap(DataFormatError(
        "/data/cirr/img_raw/dev/a.png: not found\nFailed to apply UDF transform after 1/1 attempts")))
    assert main(_synth(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: /data/cirr/img_raw/dev/a.png: not found"]


def test_a_bug_in_a_ray_worker_prints_the_workers_traceback(monkeypatch, tmp_path, capsys):
    _run_raising(monkeypatch, _task_error(KeyError("image_id")))
    assert main(_synth(tmp_path)) == 1
    err = capsys.readouterr().err
    assert 'File "/worker/decode.py", line 7, in decode_one' in err
    assert "ray::decode_one()" in err and "\x1b[" not in err  # Ray's colours stripped
    assert "_driver_side" not in err  # the driver's frames of Ray's wrapper are not the bug
    assert err.rstrip().splitlines()[-1].startswith("error: unexpected KeyError: 'image_id'")


def test_verbose_hides_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("VDGRAY_VERBOSE", "")  # so the flag's setting is undone after the test
    _run_raising(monkeypatch, _task_error(KeyError("image_id")))
    assert main(_synth(tmp_path, "--verbose")) == 1
    err = capsys.readouterr().err
    assert "_driver_side" in err and 'File "/worker/decode.py", line 7' in err


def test_a_train_workers_bug_keeps_its_traceback_text_and_the_resume_note(monkeypatch, tmp_path,
                                                                         capsys):
    group = WorkerGroupError(f"[Rank 0 Error Snippet]:\n{WORKER_TRACEBACK}", {0: KeyError("x")})
    group.add_note("train-cir on /data: training failed; re-run with name=m to resume")
    _run_raising(monkeypatch, group)
    assert main(_synth(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "[Rank 0 Error Snippet]" in err and "in decode_one" in err
    assert "re-run with name=m to resume" in err and "_driver_side" not in err


def test_the_job_entry_reports_the_same_way(monkeypatch, tmp_path, capsys):
    _run_raising(monkeypatch, _task_error(DataFormatError("a.png: not found")))
    assert jobs.stage_main("synth", ["--set", f"output={tmp_path / 'w'}"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: a.png: not found"]
    _run_raising(monkeypatch, _task_error(KeyError("image_id")))
    assert jobs.stage_main("synth", ["--set", f"output={tmp_path / 'w'}"]) == 1
    err = capsys.readouterr().err
    assert "in decode_one" in err and "error: unexpected KeyError" in err


def test_click_usage_errors_say_error_and_keep_the_usage_line(capsys):
    assert main(["synth", "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "Usage: vdgray synth [OPTIONS]"
    assert "error: No such option: --no-such-option" in err or \
        "error: No such option '--no-such-option'" in err
    assert "Error:" not in err
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "error: No such command 'no-such-command'" in err and "Error:" not in err


@pytest.mark.parametrize("argv, key", [
    (["embed", "--gallery", "/data/g", "-o", "/data/e"], "model"),
    (["train-cir", "--human", "/data/cirr", "-o", "/data/m"], "model.encoder"),
    (["train-cir", "--human", "/data/cirr", "-o", "/data/m", "-s", "model.kind=blip"],
     "model.encoder"),
])
def test_a_missing_model_is_a_one_line_error_not_a_test_model(argv, key, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: vdgray {argv[0]}: key {key}: required value is missing (")
    assert "model directory or s3:// URI" in err[0] and "tiny-* names" in err[0]
