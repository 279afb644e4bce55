"""The driver side every vdgray trainer shares: config -> Ray Train run -> published model.

`train-encoder`, `train-vdg` and `train-cir` run the same sequence: skip when `output`
already holds a finished model (unless `overwrite`), make the buckets, join or start Ray, run
the `TorchTrainer` (a re-run with the same name resumes from the latest checkpoint), publish
the final checkpoint as the model dir and write its manifest last. A trainer says only what
differs, in a `Training`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from vdgray import manifest, storage
from vdgray.config import resolved
from vdgray.runtime import ensure_ray
from vdgray.train.publish import copy_model_files, publish
from vdgray.train.ray_run import TrainRunConfig, fit, numeric_metrics, torch_threads


@dataclass(frozen=True)
class Training:
    """What one trainer adds to the shared run sequence."""

    command: str  # the CLI name that starts the lines it prints, e.g. "train-cir"
    stage: str  # the manifest stage of the published model
    loop: Callable[[dict], None]  # the Ray Train worker loop
    what: str  # names the run in errors, e.g. "train-cir on s3://b/cirr"
    loop_config: Callable[[int], dict]  # torch threads per worker -> the workers' config
    inputs: dict  # the manifest's inputs
    counts: Callable[[dict], dict]  # final metrics -> the manifest's counts
    extra: dict  # manifest fields before metrics, checkpoint_storage and run_name
    summary: Callable[[dict, float], str]  # (metrics, wall seconds) -> the closing line
    build: Callable[[str, Path], None] = copy_model_files  # checkpoint dir -> model dir
    check: Callable[[], None] | None = field(default=None)  # input checks before any write


def train_and_publish(cfg: TrainRunConfig, training: Training) -> dict:
    """Train, publish the model + manifest to `cfg.output`; return the last epoch's metrics."""
    t0 = time.time()
    if manifest.is_complete(cfg.output, training.stage) and not cfg.overwrite:
        doc = manifest.read_manifest(cfg.output, training.stage)
        click.echo(f"{training.command}: {cfg.output} already holds a model "
                   "(set overwrite=true to retrain)")
        return {"output": cfg.output, "skipped": True, **doc.get("metrics", {})}
    if training.check is not None:
        training.check()
    storage.ensure_bucket(cfg.output)
    storage.ensure_bucket(cfg.run_storage())
    ensure_ray(cfg.ray)
    threads = torch_threads(cfg.torch_threads, cfg.num_workers)
    result = fit(training.loop, training.loop_config(threads), num_workers=cfg.num_workers,
                 use_gpu=cfg.use_gpu, run=cfg.run_config(), ray_cfg=cfg.ray, what=training.what,
                 env=cfg.train_env())
    metrics = numeric_metrics(result)
    files = publish(result.checkpoint, cfg.output, training.build)
    wall = time.time() - t0
    manifest.write_manifest(
        cfg.output, stage=training.stage, config=resolved(cfg), inputs=training.inputs,
        counts=training.counts(metrics), files=files, wall_time_s=wall,
        extra={**training.extra, "metrics": metrics,
               "checkpoint_storage": cfg.run_storage(), "run_name": cfg.run_name()},
    )
    click.echo(training.summary(metrics, wall))
    return {"output": cfg.output, "wall_time_s": wall, **metrics}
