"""What every vdgray training loop does inside a Ray Train worker, besides training.

Each loop sets its torch threads, learns its rank, prints progress from rank 0 only, restores
the latest Ray Train checkpoint (model + `train_state.pt` with the optimizer and scheduler
state and how far it got), and ends each checkpointed epoch with `ray.train.report` carrying a checkpoint
that rank 0 wrote. `TrainWorker` is that part, once; the loops keep only their own model,
data and steps.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from typing import TypeVar

from vdgray.console import say

TRAIN_STATE = "train_state.pt"

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
            return load(d)

    def report(self, metrics: dict, write: Callable[[str], None]) -> None:
        """Report `metrics` with a checkpoint that rank 0 `write`s into a fresh directory.

        Every report carries a checkpoint: Ray Train's worker blocks in `report` until the
        controller takes the previous result, which it polls once per health check (2 s), so
        a metrics-only report per short epoch is mostly waiting (train-cir's 64 sub-second
        epochs spent ~100 s of a 150 s run there). Loops print each epoch with `say` and
        report only the epochs they checkpoint."""
        import ray.train

        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if self.rank == 0:
                write(tmp)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)


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
