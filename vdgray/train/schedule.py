"""The learning-rate schedule every vdgray trainer uses: linear warm-up, then cosine or step.

The encoder, VDG and CIR loops all warm up linearly over `warmup` steps and then decay; one
function keeps their schedules identical (and a resumed scheduler's state meaningful).
"""

from __future__ import annotations

import math


def lr_lambda(total: int, warmup: int, schedule: str = "cosine", step_size: int = 0,
              gamma: float = 0.1):
    """Linear warm-up then cosine decay to 0, or step decay (x gamma every `step_size`)."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "step":
            return gamma ** ((step - warmup) // max(1, step_size))
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


def warmup_scheduler(optimizer, total: int, warmup: int, schedule: str = "cosine",
                     step_size: int = 0, gamma: float = 0.1):
    """A `LambdaLR` over `optimizer` that follows `lr_lambda`, stepped once per optimizer step."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total, warmup, schedule, step_size, gamma))
