"""Failures a Ray Train run meets, made for real while it runs: its worker process killed, or its
node lost, once its first checkpoint is in storage; and the check that a run ends with the same
weights as another."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train's record of the checkpoints it took


def first_checkpoint(run_dir: str | Path, timeout_s: float = 600) -> Path:
    """Wait until Ray Train has taken the run's first checkpoint (its controller registered
    it: a checkpoint dir alone may be one a worker wrote that the controller never took, and a
    restart would not resume from it) and return the run's snapshot file."""
    snapshot = Path(run_dir) / SNAPSHOT
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if "checkpoint_" in snapshot.read_text():
                return snapshot
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint taken under {run_dir} after {timeout_s} s")


def alive_train_workers() -> list[dict]:
    """The Ray Train worker actors alive now (GCS actor table: pid, node)."""
    import ray

    return [a for a in ray._private.state.actors().values()
            if a["ActorClassName"] == "RayTrainWorker" and a["State"] == "ALIVE"]


def in_background(action) -> tuple[threading.Thread, list]:
    """Run `action()` in a thread; the list gets its result or the exception it raised."""
    out: list = []

    def go():
        try:
            out.append(action())
        except BaseException as e:  # re-raised by the test after the run
            out.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def kill_a_worker_after_first_checkpoint(run_dir: str | Path) -> tuple[threading.Thread, list]:
    """In the background: once the run has a checkpoint, SIGKILL one of its worker processes
    (a worker lost as to the OOM killer); the list gets the run's snapshot file."""
    def kill() -> Path:
        ckpt = first_checkpoint(run_dir)
        workers = alive_train_workers()
        assert workers, "no Ray Train worker alive after the first checkpoint"
        os.kill(int(workers[0]["Pid"]), signal.SIGKILL)
        return ckpt

    return in_background(kill)


def same_weights(a, b) -> list[str]:
    """The names of the tensors that differ between two models' state dicts (empty: equal)."""
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return [k for k in sa if not torch.equal(sa[k], sb[k])]


def resume_points(lines: str, command: str) -> list[int]:
    """The epochs a run's restarts resumed after, in order, from its "<command>: resuming after
    epoch N" lines."""
    import re

    return [int(m) for m in re.findall(rf"{command}: resuming after epoch (\d+)", lines)]
