"""The whole pipeline as one config: which stages run, where each writes, and their settings.

`vdgray demo` and `jobs/pipeline.py` both call `run_pipeline`. Stage outputs live under one
root URI with fixed sub-prefixes, so the wiring (which stage reads which output) is written
once here. A stage whose output already carries a finished manifest is skipped, which makes
a re-submitted job resume where it stopped.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any

import click
from pydantic import Field, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri
from vdgray.errors import ConfigError
from vdgray.runtime import RayConfig, ensure_ray


@dataclass(frozen=True)
class StageSpec:
    """How the pipeline calls one stage: its config class, entry function and wiring."""

    target: str  # "module:ConfigClass:run"
    output: str  # sub-prefix under the pipeline root
    manifest_stage: str  # the stage name its manifest carries

    def load(self):
        module, cls, fn = self.target.split(":")
        mod = importlib.import_module(module)
        return getattr(mod, cls), getattr(mod, fn)


STAGES: dict[str, StageSpec] = {
    "synth": StageSpec("vdgray.data.synthetic.stage:SynthConfig:run", "world", "synth"),
    "train-encoder": StageSpec("vdgray.train.encoder:TrainEncoderConfig:run", "encoder", "model"),
    "embed": StageSpec("vdgray.stages.embed:EmbedConfig:run", "embeddings", "embeddings"),
    "mine": StageSpec("vdgray.stages.mine:MineConfig:run", "pairs", "pairs"),
}


class PipelineConfig(StageConfig):
    """One run of the pipeline: a root output URI, the stages to run and each stage's settings."""

    output: Uri = Field(description="Root URI; each stage writes to a fixed sub-prefix of it.")
    stages: list[str] = Field(
        default_factory=lambda: list(STAGES), description="Stages to run, in pipeline order."
    )
    gallery: Uri | None = Field(
        None, description="Unlabeled gallery URI; default: the synthetic world's gallery/."
    )
    encoder: str | None = Field(
        None, description="Encoder model (name or URI) for embed; default: the trained world encoder."
    )
    seed: int = Field(0, description="Seed passed to every stage that takes one.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Where the stages run.")
    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-stage config values, keyed by stage name (e.g. settings.mine.top_k).",
    )

    @model_validator(mode="after")
    def _check(self):
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; known: {list(STAGES)}")
        order = [s for s in STAGES if s in self.stages]
        if order != self.stages:
            raise ValueError(f"stages must be in pipeline order {order}")
        bad = [s for s in self.settings if s not in STAGES]
        if bad:
            raise ValueError(f"settings for unknown stage(s) {bad}")
        return self


def uri_of(cfg: PipelineConfig, stage: str) -> str:
    return storage.join(cfg.output, STAGES[stage].output)


def wiring(cfg: PipelineConfig, stage: str) -> dict[str, Any]:
    """The URI fields of a stage's config, derived from the pipeline root and the inputs."""
    world = uri_of(cfg, "synth")
    gallery = cfg.gallery or storage.join(world, "gallery")
    encoder = cfg.encoder or uri_of(cfg, "train-encoder")
    out = uri_of(cfg, stage)
    return {
        "synth": {"output": out},
        "train-encoder": {"world": world, "output": out},
        "embed": {"gallery": gallery, "model": encoder, "output": out},
        "mine": {"embeddings": uri_of(cfg, "embed"), "output": out},
    }[stage]


def stage_config(cfg: PipelineConfig, stage: str):
    """Validate one stage's config (wiring + settings); errors name `settings.<stage>.<key>`."""
    cls, _ = STAGES[stage].load()
    data = {**wiring(cfg, stage), **cfg.settings.get(stage, {})}
    fields = cls.model_fields
    if "ray" in fields:
        data.setdefault("ray", cfg.ray.model_dump())
    if "seed" in fields:
        data.setdefault("seed", cfg.seed)
    try:
        return cls.model_validate(data)
    except Exception as e:  # pydantic.ValidationError
        from pydantic import ValidationError

        from vdgray.config import format_validation_error

        if isinstance(e, ValidationError):
            raise ConfigError(format_validation_error(e, f"pipeline settings.{stage}")) from None
        raise


def run_pipeline(cfg: PipelineConfig) -> dict[str, dict]:
    """Run every configured stage in order, skipping those already finished."""
    storage.check_uri(cfg.output)
    storage.ensure_bucket(cfg.output)
    configs = {s: stage_config(cfg, s) for s in cfg.stages}  # validate all before running any
    ensure_ray(cfg.ray)
    results: dict[str, dict] = {}
    t_all = time.perf_counter()
    for i, stage in enumerate(cfg.stages, 1):
        spec = STAGES[stage]
        out = uri_of(cfg, stage)
        head = f"[{i}/{len(cfg.stages)}] {stage}"
        if manifest.is_complete(out, spec.manifest_stage):
            click.echo(f"{head}: already finished at {out} (skipped)")
            results[stage] = {"skipped": True}
            continue
        click.echo(f"{head}: running -> {out}")
        t0 = time.perf_counter()
        _, fn = spec.load()
        summary = fn(configs[stage]) or {}
        results[stage] = summary
        click.echo(f"{head}: done in {time.perf_counter() - t0:.1f}s  {_short(summary)}")
    click.echo(f"pipeline finished in {time.perf_counter() - t_all:.1f}s; outputs under {cfg.output}")
    return results


def _short(summary: dict) -> str:
    counts = summary.get("counts", summary)
    return " ".join(f"{k}={v}" for k, v in counts.items() if isinstance(v, (int, float, str)))
