"""The whole pipeline as one config: which stages run, where each writes, and their settings.

`vdgray demo` and `jobs/pipeline.py` both call `run_pipeline`. Stage outputs live under one
root URI with fixed sub-prefixes, so the wiring (which stage reads which output) is written
once here. A stage whose output already carries a finished manifest is skipped, which makes
a re-submitted job resume where it stopped.
"""

from __future__ import annotations

import time
from typing import Any

import click
from pydantic import Field, model_validator

from vdgray import layout, manifest, storage
from vdgray.config import StageConfig, Uri, deep_merge
from vdgray.data.formats import AUTO, DataFormat, detect_format
from vdgray.errors import ConfigError
from vdgray.runtime import RayConfig, ensure_ray
from vdgray.stages.table import STAGE_TABLE, Stage, job_groups

# Pipeline name -> its row of the stage table, in pipeline order.
STAGES: dict[str, Stage] = {s.name: s for s in STAGE_TABLE}
# The VDG's training chain: each stage starts from the previous one present in the run.
VDG_CHAIN = ("vdg-assemble", "vdg-lm", "vdg-align", "vdg-instruct")
# The stages whose wiring depends on the human triplets' format.
HUMAN_STAGES = (*VDG_CHAIN[1:], "eval-vdg", "train-cir", "eval", "index")
# Job names (jobs/<name>.py, the k8s RayJobs) that run several pipeline stages as one job.
JOB_GROUPS: dict[str, tuple[str, ...]] = job_groups()


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
        None, description="Encoder (name or CLIP dir URI) for embed, the VDG's vision tower and "
        "the retriever's backbone; default: the trained world encoder."
    )
    human_format: DataFormat = Field(
        "auto", description="Human triplets: the synthetic world's cirr/ split, a CIRR root, "
        "a FashionIQ root (retriever only), or auto: the world without human_root, else "
        "detected from human_root."
    )
    human_root: Uri | None = Field(None, description="Human triplets root; default: the world.")
    human_image_root: Uri | None = Field(
        None, description="Image root of human_root (the VDG chain, eval-vdg, train-cir, eval and index get it); default: "
        "found as each stage finds it (CIRR: root/img_raw, root, root's parent).")
    vdg: Uri | None = Field(
        None, description="Starting VDG (a LLaVA dir, e.g. llava-1.5) when the run has no earlier "
        "VDG stage; after vdg-instruct, the exported model generate uses if vdg-export is absent."
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


def _vdg_input(cfg: PipelineConfig, stage: str) -> str:
    """The VDG a stage starts from: the output of the latest earlier VDG stage in this run,
    else the configured `vdg`."""
    order = list(STAGES)
    earlier = [s for s in (*VDG_CHAIN, "vdg-export") if s in cfg.stages
               and order.index(s) < order.index(stage)]
    if stage in ("eval-vdg", "generate") and "vdg-export" in cfg.stages:
        return uri_of(cfg, "vdg-export")
    if earlier:
        return uri_of(cfg, earlier[-1])
    if cfg.vdg is None:
        raise ConfigError(f"pipeline: stage {stage} needs a VDG: add an earlier VDG stage or "
                          "set vdg (a LLaVA dir URI)")
    return cfg.vdg


def human_format(cfg: PipelineConfig) -> str:
    """The human triplets' format: as set, the world's without human_root, else detected."""
    if cfg.human_format != AUTO:
        return cfg.human_format
    return "world" if cfg.human_root is None else detect_format(cfg.human_root)


def wiring(cfg: PipelineConfig, stage: str) -> dict[str, Any]:
    """The URI fields of a stage's config, derived from the pipeline root and the inputs."""
    world = uri_of(cfg, "synth")
    gallery = cfg.gallery or layout.world_part(world, layout.GALLERY)
    encoder = cfg.encoder or uri_of(cfg, "train-encoder")
    human = cfg.human_root or world
    fmt = human_format(cfg) if stage in HUMAN_STAGES else None
    images = {"image_root": cfg.human_image_root} if cfg.human_image_root else {}
    out = uri_of(cfg, stage)
    fixed = dict(STAGES[stage].fixed)
    if stage in ("synth",):
        return {"output": out}
    if stage == "train-encoder":
        return {"world": world, "output": out}
    if stage == "embed":
        return {"gallery": gallery, "model": encoder, "output": out}
    if stage == "mine":
        return {"embeddings": uri_of(cfg, "embed"), "output": out}
    if stage == "vdg-assemble":  # a fresh world LM's tokenizer reads the world's texts
        given_lm = (cfg.settings.get(stage) or {}).get("lm")
        return {"vision": encoder, "output": out, **({} if given_lm else {"world": world})}
    if stage in VDG_CHAIN:  # lm / align / instruct
        cirr = {"cirr": human, **images} if fmt == "cirr" else {}
        return {**fixed, "model": _vdg_input(cfg, stage), "world": world, "output": out, **cirr}
    if stage == "vdg-export":
        return {"model": _vdg_input(cfg, stage), "output": out}
    if stage == "eval-vdg":
        data = {"cirr": human, **images} if fmt == "cirr" else {"world": world}
        return {"model": _vdg_input(cfg, stage), "output": out, **data}
    if stage == "generate":
        return {"pairs": uri_of(cfg, "mine"), "gallery": gallery,
                "model": _vdg_input(cfg, stage), "output": out}
    if stage == "train-cir":
        pseudo = ({"pseudo": uri_of(cfg, "generate"), "pseudo_gallery": gallery}
                  if "generate" in cfg.stages else {})
        return {"human": {"format": fmt, "root": human, **images},
                "model": {"encoder": encoder}, "output": out, **pseudo}
    if stage == "eval":
        return {"model": uri_of(cfg, "train-cir"), "output": out,
                "data": {"format": fmt, "root": human, **images}}
    if stage == "cir-claim":
        return {"world": world, "triplets": uri_of(cfg, "generate"), "gallery": gallery,
                "encoder": encoder, "output": out}
    if stage == "index":
        split = {"split": "val", **images} if fmt != "fashioniq" else {}
        return {"model": uri_of(cfg, "train-cir"), "gallery": human, "output": out, **split}
    if stage == "serve-check":
        return {"model": uri_of(cfg, "train-cir"), "index": uri_of(cfg, "index"), "world": world}
    raise ConfigError(f"pipeline: no wiring for stage {stage}")


def stage_config(cfg: PipelineConfig, stage: str):
    """Validate one stage's config (wiring + settings); errors name `settings.<stage>.<key>`."""
    cls, _ = STAGES[stage].load()
    data = deep_merge(wiring(cfg, stage), cfg.settings.get(stage, {}))
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
            raise ConfigError(format_validation_error(e, f"pipeline settings.{stage}", cls)) from None
        raise


def run_pipeline(cfg: PipelineConfig, only: list[str] | None = None) -> dict[str, dict]:
    """Run every configured stage in order (or just `only` of them, still wired to the whole
    run's outputs), skipping those already finished."""
    storage.check_uri(cfg.output)
    storage.ensure_bucket(cfg.output)
    todo = [s for s in cfg.stages if only is None or s in only]
    configs = {s: stage_config(cfg, s) for s in todo}  # validate all before running any
    ensure_ray(cfg.ray)
    results: dict[str, dict] = {}
    t_all = time.perf_counter()
    for i, stage in enumerate(todo, 1):
        spec = STAGES[stage]
        out = uri_of(cfg, stage)
        head = f"[{i}/{len(todo)}] {stage}"
        if spec.manifest_stage and manifest.is_complete(out, spec.manifest_stage):
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
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in counts.items() if isinstance(v, (int, float, str)))
