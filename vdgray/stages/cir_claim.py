"""`vdgray cir-claim`: the paper's claim, measured — supervised vs semi-supervised over seeds.

For every seed, the same retriever is trained twice with `vdgray train-cir` — on the human
triplets alone (`pseudo: none`) and on human + pseudo triplets (the joint loss) — and each is
evaluated with `vdgray eval` on the same split. The table gives each Recall@K as mean ± std
over seeds per variant, plus the gap (semi − supervised) per seed; a bar chart with error bars
goes beside it. Every training and evaluation writes its own output under `output`, so a
re-run skips the finished ones and resumes the rest.
"""

from __future__ import annotations

import time
from typing import Any

import click
import numpy as np
from pydantic import Field, ValidationError, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri, format_validation_error, resolved
from vdgray.errors import ConfigError
from vdgray.layout import CLAIM_STAGE, EVAL_CACHE_DIR
from vdgray.runtime import RayConfig
from vdgray.stage_options import build_config, config_options

VARIANTS = ("supervised", "semi-supervised")
# Settings the claim stage wires itself; `train` may not override them.
_WIRED = {"human", "pseudo", "pseudo_gallery", "output", "seed", "ray", "name", "storage_path"}


class ClaimConfig(StageConfig):
    """Settings of `vdgray cir-claim`."""

    world: Uri = Field(..., description="Synthetic world URI: human triplets (cirr train) and the eval split.")
    triplets: Uri = Field(..., description="Pseudo triplets URI (the output of `vdgray generate`).")
    gallery: Uri = Field(..., description="Gallery URI holding the pseudo triplets' images.")
    encoder: str = Field(..., description="Retriever backbone (name or CLIP dir URI), same for both variants.")
    output: Uri = Field(..., description="Where each run's model/eval and claim.json/claim.png go.")
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="Seeds; each trains both variants.")
    split: str = Field("val", description="World split evaluated (val has targets).")
    train: dict[str, Any] = Field(default_factory=dict,
                                  description="Other train-cir settings for both variants (epochs, lr, pseudo_ratio, model.settings, ...).")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")

    @model_validator(mode="after")
    def _check(self):
        wired = sorted(_WIRED & set(self.train))
        if wired:
            raise ValueError(f"train: {wired} are set by cir-claim itself")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {self.seeds} repeats a seed")
        return self

    def run_uri(self, variant: str, seed: int) -> str:
        return storage.join(self.output, f"{variant}-seed{seed}")


def train_config(cfg: ClaimConfig, variant: str, seed: int):
    """The `TrainCirConfig` of one run; bad `train` values name `train.<key>`."""
    from vdgray.stages.train_cir import TrainCirConfig

    data = {**cfg.train, "human": {"format": "world", "root": cfg.world},
            "pseudo": cfg.triplets if variant == "semi-supervised" else "none",
            "pseudo_gallery": cfg.gallery if variant == "semi-supervised" else None,
            "output": storage.join(cfg.run_uri(variant, seed), "model"), "seed": seed,
            "ray": cfg.ray.model_dump()}
    model = dict(data.get("model") or {})
    model.setdefault("encoder", cfg.encoder)
    data["model"] = model
    try:
        return TrainCirConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"{CLAIM_STAGE} train")) from None


def eval_config(cfg: ClaimConfig, variant: str, seed: int):
    from vdgray.stages.eval_cir import EvalConfig

    run = cfg.run_uri(variant, seed)
    return EvalConfig(model=storage.join(run, "model"),
                      data={"format": "world", "root": cfg.world, "split": cfg.split},
                      output=storage.join(run, "eval"), cache=storage.join(cfg.output, EVAL_CACHE_DIR),
                      ray=cfg.ray)


def summarise(metrics: dict[str, list[dict[str, float]]], seeds: list[int]) -> dict:
    """Mean/std per variant and metric, and the per-seed gap (semi − supervised)."""
    keys = [k for k in metrics[VARIANTS[0]][0] if all(k in m for v in VARIANTS for m in metrics[v])]
    out: dict = {"seeds": seeds, "keys": keys, "variants": {}, "gap": {}}
    for v in VARIANTS:
        arr = np.array([[m[k] for k in keys] for m in metrics[v]], dtype=float)
        out["variants"][v] = {k: {"mean": float(arr[:, i].mean()), "std": float(arr[:, i].std(ddof=0)),
                                  "per_seed": arr[:, i].tolist()} for i, k in enumerate(keys)}
    for k in keys:
        gaps = [s[k] - u[k] for s, u in zip(metrics[VARIANTS[1]], metrics[VARIANTS[0]], strict=True)]
        out["gap"][k] = {"mean": float(np.mean(gaps)), "std": float(np.std(gaps)), "per_seed": gaps,
                         "wins": int(sum(g > 0 for g in gaps))}
    return out


def format_table(summary: dict) -> str:
    """Rows: each variant (mean ± std over seeds), then the gap; columns: the metrics."""
    keys = summary["keys"]
    cols = [k.replace("recall_subset", "Rs").replace("recall", "R") for k in keys]
    w = 17
    lines = [f"{'model (n=' + str(len(summary['seeds'])) + ' seeds)':<{w + 4}}"
             + "".join(f"{c:>14}" for c in cols)]
    for v in VARIANTS:
        s = summary["variants"][v]
        lines.append(f"{v:<{w + 4}}" + "".join(f"{s[k]['mean']:>8.2f} ± {s[k]['std']:<4.2f}"
                                              for k in keys))
    g = summary["gap"]
    lines.append(f"{'gap (semi − sup)':<{w + 4}}" + "".join(f"{g[k]['mean']:>+8.2f} ± {g[k]['std']:<4.2f}"
                                                           for k in keys))
    lines.append(f"{'seeds semi wins':<{w + 4}}" + "".join(
        f"{str(g[k]['wins']) + '/' + str(len(summary['seeds'])):>14}" for k in keys))
    return "\n".join(lines)


def run(cfg: ClaimConfig) -> dict:
    """Train + evaluate both variants for every seed; write claim.json/png and the manifest."""
    from vdgray.eval.plots import bar_chart_png
    from vdgray.stages.eval_cir import run as evaluate
    from vdgray.stages.train_cir import run as train

    t0 = time.time()
    if manifest.is_complete(cfg.output, CLAIM_STAGE):
        doc = manifest.read_manifest(cfg.output, CLAIM_STAGE)
        click.echo(f"cir-claim: {cfg.output} is already complete")
        return {"output": cfg.output, "skipped": True, **doc.get("summary", {})}
    configs = {(v, s): (train_config(cfg, v, s), eval_config(cfg, v, s))
               for s in cfg.seeds for v in VARIANTS}  # validate every run before the first
    storage.ensure_bucket(cfg.output)
    metrics: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for i, ((v, s), (tcfg, ecfg)) in enumerate(configs.items(), 1):
        click.echo(f"cir-claim [{i}/{len(configs)}] {v} seed {s}")
        train(tcfg)
        result = evaluate(ecfg)
        metrics[v].append(result["metrics"])
    summary = summarise(metrics, cfg.seeds)
    click.echo(format_table(summary))
    keys = summary["keys"]
    png = bar_chart_png(list(VARIANTS), keys,
                        [[summary["variants"][v][k]["mean"] for k in keys] for v in VARIANTS],
                        title=f"CIR recall on the world's {cfg.split} split, mean ± std over "
                              f"{len(cfg.seeds)} seeds",
                        errors=[[summary["variants"][v][k]["std"] for k in keys] for v in VARIANTS])
    storage.write_bytes(storage.join(cfg.output, "claim.png"), png)
    storage.write_json(storage.join(cfg.output, "claim.json"), summary)
    wall = time.time() - t0
    manifest.write_manifest(
        cfg.output, stage=CLAIM_STAGE, config=resolved(cfg),
        inputs={"world": cfg.world, "triplets": cfg.triplets, "gallery": cfg.gallery},
        counts={"runs": len(configs)}, files=["claim.json", "claim.png"], wall_time_s=wall,
        extra={"summary": summary})
    return {"output": cfg.output, "wall_time_s": wall, **summary}


@click.command("cir-claim")
@config_options
@click.option("--output", "-o", default=None, help="Output URI (overrides output).")
def command(config_path, overrides, output):
    """Supervised vs semi-supervised retriever over seeds (table + bar chart)."""
    cfg = build_config(ClaimConfig, config_path, overrides, output=output)
    run(cfg)
