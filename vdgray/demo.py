"""`vdgray demo`: the whole pipeline on the built-in synthetic world, with size presets.

Each step is the same entry function the CLI and the job scripts call, with the preset's
sizes. A step whose output already has a manifest is skipped, so an interrupted demo
re-run continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import click

from vdgray import manifest, storage
from vdgray.runtime import RayConfig, ensure_ray


@dataclass(frozen=True)
class Preset:
    """Sizes of one demo run; `tiny` is what the test suite runs end to end."""

    n_gallery: int
    n_train: int
    n_val: int
    n_test: int
    encoder_epochs: int
    encoder_batch: int


PRESETS: dict[str, Preset] = {
    "tiny": Preset(n_gallery=240, n_train=60, n_val=36, n_test=36, encoder_epochs=2,
                   encoder_batch=64),
    "default": Preset(n_gallery=3000, n_train=300, n_val=300, n_test=300, encoder_epochs=12,
                      encoder_batch=128),
}


@dataclass
class Step:
    name: str
    output: str
    stage: str
    run: Callable[[], dict]


def build_steps(out: str, p: Preset, ray_cfg: RayConfig, seed: int) -> list[Step]:
    """The pipeline as a list of steps (each a call into a stage's entry function)."""
    from vdgray.data.synthetic.stage import SynthConfig
    from vdgray.data.synthetic.stage import run as synth

    world = storage.join(out, "world")
    ray_d = ray_cfg.model_dump()
    steps = [
        Step("synth", world, "synth", lambda: synth(SynthConfig(
            output=world, seed=seed, n_gallery=p.n_gallery, n_train=p.n_train, n_val=p.n_val,
            n_test=p.n_test, ray=ray_d))),
    ]
    return steps


def run_demo(size: str = "default", output: str = "runs/demo", num_cpus: int | None = None,
             seed: int = 0) -> dict:
    """Run (or resume) every step; returns {step: summary}."""
    if size not in PRESETS:
        raise click.BadParameter(f"unknown size {size!r}; choose from {', '.join(PRESETS)}")
    output = storage.check_uri(output)
    storage.ensure_bucket(output)
    ray_cfg = RayConfig(num_cpus=num_cpus)
    ensure_ray(ray_cfg)
    results: dict[str, dict] = {}
    t_all = time.perf_counter()
    steps = build_steps(output, PRESETS[size], ray_cfg, seed)
    for i, step in enumerate(steps, 1):
        head = f"[{i}/{len(steps)}] {step.name}"
        if manifest.is_complete(step.output, step.stage):
            click.echo(f"{head}: already done at {step.output} (skipped)")
            results[step.name] = {"skipped": True}
            continue
        click.echo(f"{head}: running -> {step.output}")
        t0 = time.perf_counter()
        summary = step.run() or {}
        results[step.name] = summary
        click.echo(f"{head}: done in {time.perf_counter() - t0:.1f}s  {_short(summary)}")
    click.echo(f"demo ({size}) finished in {time.perf_counter() - t_all:.1f}s; outputs under {output}")
    return results


def _short(summary: dict) -> str:
    counts = summary.get("counts", summary)
    return " ".join(f"{k}={v}" for k, v in counts.items() if isinstance(v, (int, float, str)))


@click.command("demo")
@click.option("--size", type=click.Choice(list(PRESETS)), default="default", show_default=True,
              help="Preset sizes: tiny (< 3 min, what the tests run) or default (< 20 min).")
@click.option("--output", "-o", default=None,
              help="Where every stage writes (local path or s3://bucket/prefix) "
                   "[default: runs/demo-SIZE].")
@click.option("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all).")
@click.option("--seed", type=int, default=0, show_default=True)
def command(size, output, num_cpus, seed):
    """Run the whole pipeline on the built-in synthetic world."""
    run_demo(size=size, output=output or f"runs/demo-{size}", num_cpus=num_cpus, seed=seed)
