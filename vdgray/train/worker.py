"""What every vdgray training loop does inside a Ray Train worker, besides training.

Each loop sets its torch threads, learns its rank, prints progress from rank 0 only, restores
the latest Ray Train checkpoint (model + `train_state.pt` with the optimizer and scheduler
state and how far it got), and ends each checkpointed epoch with `ray.train.report` carrying a checkpoint
that rank 0 wrote. `TrainWorker` is that part, once; the loops keep only their own model,
data and steps.

Every checkpoint also holds each rank's random state (`rng_state.pt`: torch, CUDA, NumPy's
and Python's global generators, and any generator a loop `track`s, such as a DataLoader's),
restored on resume, so a run restarted from a checkpoint draws the same dropout masks and
batch orders as one that never stopped: it ends with the same weights.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from typing import TypeVar

from vdgray.console import say

TRAIN_STATE = "train_state.pt"
RNG_STATE = "rng_state.pt"  # every rank's random state at the checkpoint, by rank

T = TypeVar("T")


class TrainWorker:
    """This worker's place in the run: rank, world size, and the driver's progress channel."""

    def __init__(self, config: dict):
        import ray.train
        import torch

        torch.set_num_threads(int(config["torch_threads"]))
        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.progress = config.get("progress")
        self.generators: dict[str, object] = {}

    def track(self, name: str, generator):
        """Save and restore `generator` (a `torch.Generator`) with the checkpoints; returns it."""
        self.generators[name] = generator
        return generator

    def say(self, line: str) -> None:
        """Print `line` on the driver's terminal, once (from rank 0)."""
        if self.rank == 0:
            say(self.progress, line)

    def resume(self, load: Callable[[str], T]) -> T | None:
        """`load(checkpoint dir)` of the run's latest checkpoint, or None on a fresh start."""
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if not ckpt:
            return None
        with ckpt.as_directory() as d:
            state = load(d)
            path = os.path.join(d, RNG_STATE)
            if os.path.exists(path):  # checkpoints written before vdgray saved it have none
                import torch

                states = torch.load(path, weights_only=False)
                if self.rank < len(states):
                    set_rng_state(states[self.rank], self.generators)
            return state

    def report(self, metrics: dict, write: Callable[[str], None]) -> None:
        """Report `metrics` with a checkpoint that rank 0 `write`s into a fresh directory.

        Every report carries a checkpoint: Ray Train's worker blocks in `report` until the
        controller takes the previous result, which it polls once per health check (2 s), so
        a metrics-only report per short epoch is mostly waiting (train-cir's 64 sub-second
        epochs spent ~100 s of a 150 s run there). Loops print each epoch with `say` and
        report only the epochs they checkpoint."""
        import ray.train
        import torch

        states = gather_objects(rng_state(self.generators), self.world)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if self.rank == 0:
                write(tmp)
                torch.save(states, os.path.join(tmp, RNG_STATE))
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)


def gather_objects(obj, world: int) -> list:
    """`obj` of every rank, by rank (a collective: every rank calls it)."""
    if world == 1:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * world
    dist.all_gather_object(out, obj)
    return out


def rng_state(generators: dict | None = None) -> dict:
    """This process's random state: torch (and CUDA), NumPy's and Python's global generators,
    and the named `torch.Generator`s."""
    import random

    import numpy as np
    import torch

    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": np.random.get_state(), "python": random.getstate(),
            "generators": {k: g.get_state() for k, g in (generators or {}).items()}}


def set_rng_state(state: dict, generators: dict | None = None) -> None:
    """Restore what `rng_state` captured (named generators missing from `state` are left)."""
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    for name, g in (generators or {}).items():
        if name in state.get("generators", {}):
            g.set_state(state["generators"][name])


def save_train_state(directory: str, optimizer, scheduler, **progress) -> None:
    """Write the optimizer and scheduler state and `progress` (epoch, step...) to TRAIN_STATE."""
    import torch

    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                **progress}, os.path.join(directory, TRAIN_STATE))


def load_train_state(directory: str, optimizer, scheduler) -> dict:
    """Restore the optimizer and scheduler from TRAIN_STATE; return the whole saved state."""
    import torch

    state = torch.load(os.path.join(directory, TRAIN_STATE), weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state


def check_finite(loss: float, at: str) -> None:
    """Stop the run (Ray then retries from the last checkpoint) on a NaN or infinite loss."""
    if not math.isfinite(loss):
        raise FloatingPointError(f"loss is {loss} at {at}")
