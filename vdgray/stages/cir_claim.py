"""`vdgray cir-claim`: the paper's claim, measured against its ceiling, over seeds.

For every seed the same retriever is trained with `vdgray train-cir` and evaluated with
`vdgray eval` on the same split, once per variant:
- supervised: the human triplets alone (`pseudo: none`);
- semi-supervised: human + the VDG's pseudo triplets (the paper's joint loss);
- oracle: human + pseudo triplets for the *same pairs* whose deltas are the world's true ones
  (`vdgray.data.synthetic.oracle`), i.e. what a perfect VDG would give. Only a synthetic world
  has that truth; on a world without truth/ the oracle variant is left out;
- shuffled-text (`shuffled: true`, a control): the VDG's triplets with their texts permuted
  across pairs. What it gains, the mined image pairs give without the right text.
The table gives each Recall@K as mean ± std over seeds (sample std) per variant, each gap to
supervised, and the share of the oracle's gain the VDG recovers, (semi − sup) / (oracle − sup);
with the control, also semi − shuffled: what the VDG's texts add over the same pairs' wrong
texts (on the default demo the pairs alone gave the R@K gain; the text shows in R_s@K);
a bar chart with error bars goes beside it. Every training and evaluation writes its own
output under `output`, so a re-run skips the finished ones and resumes the rest.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import click
import numpy as np
from pydantic import Field, ValidationError, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri, format_validation_error, resolved
from vdgray.errors import ConfigError
from vdgray.layout import CLAIM_STAGE, EVAL_CACHE_DIR, TRIPLETS_STAGE
from vdgray.runtime import RayConfig
from vdgray.stage_options import build_config, config_options

SUPERVISED, SEMI, ORACLE, SHUFFLED = "supervised", "semi-supervised", "oracle", "shuffled-text"
VARIANTS = (SUPERVISED, SEMI, ORACLE, SHUFFLED)
ORACLE_DIR = "oracle-triplets"  # under `output`: the oracle's triplets when cir-claim writes them
SHUFFLED_DIR = "shuffled-triplets"  # under `output`: the VDG's triplets, texts shuffled
SHUFFLE_SEED = 0  # one fixed permutation: every seed trains on the same control data
# Settings the claim stage wires itself; `train` may not override them.
_WIRED = {"human", "pseudo", "pseudo_gallery", "output", "seed", "ray", "name", "storage_path"}


class ClaimConfig(StageConfig):
    """Settings of `vdgray cir-claim`."""

    world: Uri = Field(..., description="Synthetic world URI: human triplets (cirr train) and the eval split.")
    triplets: Uri | None = Field(..., description="The VDG's pseudo triplets URI (the output of `vdgray generate`); null: no semi-supervised variant.")
    gallery: Uri = Field(..., description="Gallery URI holding the pseudo triplets' images.")
    encoder: str = Field(..., description="Retriever backbone (a CLIP or SigLIP dir URI), same for every variant.")
    output: Uri = Field(..., description="Where each run's model/eval and claim.json/claim.png go.")
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="Seeds; each trains every variant.")
    split: str = Field("val", description="World split evaluated (val has targets).")
    oracle: Literal["auto", "on", "off"] = Field(
        "auto", description="The oracle variant: auto (when the world has truth/), on, off.")
    oracle_triplets: Uri | None = Field(
        None, description="Oracle triplets URI; default: written under output/oracle-triplets "
        "from the world's truth for the pairs of `triplets`.")
    human_limit: int | None = Field(None, ge=2, description="Train on the first N human triplets only (null: all).")
    shuffled: bool = Field(False, description="Also train on the VDG's triplets with their texts shuffled across pairs: a control for how much of the gain needs the right text (the pairs alone give the rest).")
    train: dict[str, Any] = Field(default_factory=dict,
                                  description="Other train-cir settings for every variant (epochs, lr, pseudo_ratio, model.settings, ...).")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")

    @model_validator(mode="after")
    def _check(self):
        wired = sorted(_WIRED & set(self.train))
        if wired:
            raise ValueError(f"train: {wired} are set by cir-claim itself")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {self.seeds} repeats a seed")
        if self.oracle == "off" and self.oracle_triplets:
            raise ValueError("oracle_triplets: given, but oracle is off")
        if self.oracle != "off" and self.triplets is None and self.oracle_triplets is None:
            raise ValueError("oracle_triplets: required when triplets is null (the oracle "
                             "describes the pairs of the VDG's triplets)")
        if self.triplets is None and self.oracle == "off":
            raise ValueError("triplets: null and oracle off leaves only the supervised variant")
        if self.shuffled and self.triplets is None:
            raise ValueError("shuffled: needs triplets (it shuffles the VDG's texts)")
        return self

    def run_uri(self, variant: str, seed: int) -> str:
        return storage.join(self.output, f"{variant}-seed{seed}")

    def oracle_uri(self) -> str:
        return self.oracle_triplets or storage.join(self.output, ORACLE_DIR)

    def variants(self) -> list[str]:
        """The variants this run trains, in table order."""
        from vdgray.data.synthetic.oracle import has_truth

        out = [SUPERVISED] + ([SEMI] if self.triplets else [])
        if self.oracle == "on" or (self.oracle == "auto" and (self.oracle_triplets
                                                               or has_truth(self.world))):
            out.append(ORACLE)
        return out + ([SHUFFLED] if self.shuffled else [])


def train_config(cfg: ClaimConfig, variant: str, seed: int):
    """The `TrainCirConfig` of one run; bad `train` values name `train.<key>`."""
    from vdgray.stages.train_cir import TrainCirConfig

    pseudo = {SUPERVISED: "none", SEMI: cfg.triplets, ORACLE: cfg.oracle_uri(),
              SHUFFLED: storage.join(cfg.output, SHUFFLED_DIR)}[variant]
    data = {**cfg.train, "human": {"format": "world", "root": cfg.world, "limit": cfg.human_limit},
            "pseudo": pseudo, "pseudo_gallery": None if variant == SUPERVISED else cfg.gallery,
            "output": storage.join(cfg.run_uri(variant, seed), "model"), "seed": seed,
            "ray": cfg.ray.model_dump()}
    model = dict(data.get("model") or {})
    model.setdefault("encoder", cfg.encoder)
    data["model"] = model
    try:
        return TrainCirConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"{CLAIM_STAGE} train",
                                                  TrainCirConfig)) from None


def eval_config(cfg: ClaimConfig, variant: str, seed: int):
    from vdgray.stages.eval_cir import EvalConfig

    run = cfg.run_uri(variant, seed)
    return EvalConfig(model=storage.join(run, "model"),
                      data={"format": "world", "root": cfg.world, "split": cfg.split},
                      output=storage.join(run, "eval"), cache=storage.join(cfg.output, EVAL_CACHE_DIR),
                      ray=cfg.ray)


def _stats(values: list[float]) -> dict:
    """Mean and sample std (0 for one seed) of per-seed values."""
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "per_seed": arr.tolist()}


def summarise(metrics: dict[str, list[dict[str, float]]], seeds: list[int]) -> dict:
    """Mean/std per variant and metric, each variant's per-seed gap to supervised, (with the
    shuffled control) the VDG's gap to it, and (with both the VDG and the oracle) the share of
    the oracle's gain the VDG recovers."""
    variants = [v for v in VARIANTS if v in metrics]
    keys = [k for k in metrics[SUPERVISED][0]
            if all(k in m for v in variants for m in metrics[v])]
    out: dict = {"seeds": seeds, "keys": keys, "variants": {}, "gap": {}}
    for v in variants:
        out["variants"][v] = {k: _stats([m[k] for m in metrics[v]]) for k in keys}
    for v in variants[1:]:
        out["gap"][v] = {k: _gap(metrics[v], metrics[SUPERVISED], k) for k in keys}
    if SEMI in metrics and SHUFFLED in metrics:  # what the VDG's texts add over wrong ones
        out["text_gap"] = {k: _gap(metrics[SEMI], metrics[SHUFFLED], k) for k in keys}
    if SEMI in metrics and ORACLE in metrics:
        out["share"] = {k: _share(out["gap"][SEMI][k]["per_seed"],
                                  out["gap"][ORACLE][k]["per_seed"]) for k in keys}
    return out


def _gap(runs: list[dict], base: list[dict], key: str) -> dict:
    """Per-seed `runs` − `base` on `key`: stats and the seeds where `runs` is ahead."""
    gaps = [r[key] - b[key] for r, b in zip(runs, base, strict=True)]
    return {**_stats(gaps), "wins": int(sum(g > 0 for g in gaps))}


def _share(semi: list[float], oracle: list[float]) -> dict:
    """(semi − sup) / (oracle − sup): of the mean gaps (the headline), and per seed where the
    oracle gained (a seed where it did not has no share)."""
    m_semi, m_oracle = float(np.mean(semi)), float(np.mean(oracle))
    per = [s / o if o > 0 else None for s, o in zip(semi, oracle, strict=True)]
    defined = [p for p in per if p is not None]
    return {"of_means": m_semi / m_oracle if m_oracle > 0 else None, "per_seed": per,
            **({"mean": float(np.mean(defined)),
                "std": float(np.std(defined, ddof=1)) if len(defined) > 1 else 0.0}
               if defined else {"mean": None, "std": None})}


def mean_std(stat: dict, signed: bool = False) -> str:
    """"mean ± std" of one metric's stats over seeds (2 decimals; `signed` for gaps)."""
    return f"{stat['mean']:{'+' if signed else ''}.2f} ± {stat['std']:.2f}"


def _short(key: str) -> str:
    return key.replace("recall_subset", "Rs").replace("recall", "R")


def format_table(summary: dict) -> str:
    """Rows: each variant (mean ± std over seeds), each gap to supervised, seeds won, and the
    share of the oracle's gain; columns: the metrics."""
    keys, n = summary["keys"], len(summary["seeds"])
    w, c = 24, 15
    lines = [f"{'model (n=' + str(n) + ' seeds)':<{w}}" + "".join(f"{_short(k):>{c}}" for k in keys)]
    for v, s in summary["variants"].items():
        lines.append(f"{v:<{w}}" + "".join(f"{s[k]['mean']:>9.2f} ± {s[k]['std']:<4.2f}"
                                           for k in keys))
    gaps = [({SEMI: "semi", SHUFFLED: "shuffled"}.get(v, v), "sup", g)
            for v, g in summary["gap"].items()]
    gaps += [("semi", "shuffled", summary["text_gap"])] if "text_gap" in summary else []
    for name, base, g in gaps:
        lines.append(f"{'gap (' + name + ' − ' + base + ')':<{w}}"
                     + "".join(f"{g[k]['mean']:>+9.2f} ± {g[k]['std']:<4.2f}" for k in keys))
        won = f"  seeds {name} wins" if base == "sup" else f"  seeds {name} > {base}"
        lines.append(f"{won:<{w}}"
                     + "".join(f"{str(g[k]['wins']) + '/' + str(n):>{c}}" for k in keys))
    if "share" in summary:
        def cell(s: dict) -> str:
            if s["of_means"] is None:
                return f"{'n/a':>{c}}"
            return f"{100 * s['of_means']:>{c - 1}.0f}%"
        lines.append(f"{'share of oracle gain':<{w}}" + "".join(cell(summary["share"][k])
                                                             for k in keys))
    return "\n".join(lines + ([headline(summary)] if SEMI in summary["gap"] else []))


HEADLINE_KEYS = ("recall@1", "recall@10")  # the claim's R@K, as the paper reports it
TEXT_KEY = "recall_subset@1"  # ranks within the query's group of similar images: only text helps


def headline(summary: dict) -> str:
    """The claim in one line: the VDG's gain over supervised on R@1/R@10 (seeds ahead), the
    share of the oracle's R@10 gain, and (with the control) what its texts add over wrong ones
    on the subset recall, the one metric the pairs alone cannot lift."""
    n = len(summary["seeds"])

    def gap(g: dict, k: str) -> str:
        return f"{_short(k)} {g[k]['mean']:+.2f} ({g[k]['wins']}/{n} seeds)"

    semi = summary["gap"][SEMI]
    parts = ["claim: semi − sup " + ", ".join(gap(semi, k) for k in HEADLINE_KEYS
                                              if k in semi)]
    share = (summary.get("share") or {}).get(HEADLINE_KEYS[-1])
    if share and share["of_means"] is not None:
        parts.append(f"{100 * share['of_means']:.0f}% of the oracle's "
                     f"{_short(HEADLINE_KEYS[-1])} gain")
    if TEXT_KEY in summary.get("text_gap", {}):
        parts.append("the VDG's texts over shuffled ones " + gap(summary["text_gap"], TEXT_KEY))
    return "; ".join(parts)


def check_pseudo(cfg: ClaimConfig) -> None:
    """The VDG's triplets must be a finished output with at least one triplet: semi-supervised
    with none would be the supervised run again, reported as a result."""
    if not cfg.triplets:
        return
    if not manifest.is_complete(cfg.triplets, TRIPLETS_STAGE):
        raise ConfigError(f"triplets: {cfg.triplets} is not a finished triplets output "
                          "(run `vdgray generate` first)")
    counts = manifest.read_manifest(cfg.triplets, TRIPLETS_STAGE).get("counts") or {}
    if "triplets" not in counts:  # a triplets output written without counts: count its rows
        counts["triplets"] = manifest.read_dataset(cfg.triplets, TRIPLETS_STAGE,
                                                   columns=["reference_id"]).num_rows
    if not counts["triplets"]:
        removed = ", ".join(f"{k}={v}" for k, v in counts.items() if k.startswith("removed_")
                            and v)
        raise ConfigError(f"triplets: {cfg.triplets} holds 0 pseudo triplets (generate read "
                          f"{counts.get('pairs', '?')} pairs; {removed or 'none kept'}): the VDG "
                          "gave the semi-supervised variant nothing to train on")


def ensure_oracle(cfg: ClaimConfig) -> dict | None:
    """Write the oracle triplets (truth for the pairs of the VDG's triplets) unless given or
    already written; returns their manifest counts."""
    from vdgray.data.synthetic.oracle import write_oracle_triplets

    uri = cfg.oracle_uri()
    if manifest.is_complete(uri, TRIPLETS_STAGE):
        return manifest.read_manifest(uri, TRIPLETS_STAGE).get("counts")
    if cfg.oracle_triplets:
        raise ConfigError(f"oracle_triplets: {uri} is not a finished triplets output")
    pairs = manifest.read_dataset(cfg.triplets, TRIPLETS_STAGE,
                                  columns=["reference_id", "target_id"])
    counts = write_oracle_triplets(cfg.world, pairs, uri, inputs={"pairs": cfg.triplets})
    click.echo(f"cir-claim: oracle triplets for the {pairs.num_rows:,} pairs of {cfg.triplets}: "
               f"{counts['triplets']:,} with a true delta "
               f"({counts['removed_object_count']} differ in object count) -> {uri}")
    return counts


def ensure_shuffled(cfg: ClaimConfig) -> None:
    """Write the VDG's triplets with their texts permuted across pairs (same pairs, same
    texts, the wrong text for almost every pair) unless already written."""
    import pyarrow as pa

    uri = storage.join(cfg.output, SHUFFLED_DIR)
    if manifest.is_complete(uri, TRIPLETS_STAGE):
        return
    table = manifest.read_dataset(cfg.triplets, TRIPLETS_STAGE)
    perm = np.random.default_rng(SHUFFLE_SEED).permutation(table.num_rows)
    i = table.schema.get_field_index("text")
    table = table.set_column(i, table.schema.field(i), table.column(i).take(pa.array(perm)))
    storage.write_parquet(storage.join(uri, "part-00000.parquet"), table)
    manifest.write_manifest(uri, stage=TRIPLETS_STAGE, inputs={"triplets": cfg.triplets},
                            counts={"triplets": table.num_rows}, files=["part-00000.parquet"],
                            extra={"shuffle_seed": SHUFFLE_SEED})


def run(cfg: ClaimConfig) -> dict:
    """Train + evaluate every variant for every seed; write claim.json/png and the manifest."""
    from vdgray.eval.plots import bar_chart_png
    from vdgray.stages.eval_cir import run as evaluate
    from vdgray.stages.train_cir import run as train

    t0 = time.time()
    if manifest.is_complete(cfg.output, CLAIM_STAGE):
        doc = manifest.read_manifest(cfg.output, CLAIM_STAGE)
        click.echo(f"cir-claim: {cfg.output} is already complete")
        if doc.get("summary"):
            click.echo(format_table(doc["summary"]))
        return {"output": cfg.output, "skipped": True, **doc.get("summary", {})}
    variants = cfg.variants()
    configs = {(v, s): (train_config(cfg, v, s), eval_config(cfg, v, s))
               for s in cfg.seeds for v in variants}  # validate every run before the first
    check_pseudo(cfg)
    storage.ensure_bucket(cfg.output)
    oracle_counts = ensure_oracle(cfg) if ORACLE in variants else None
    if oracle_counts is not None and not oracle_counts.get("triplets"):
        click.echo("cir-claim: no pair has a true delta in the world's language; the oracle "
                   "variant is left out")
        variants.remove(ORACLE)
        configs = {k: v for k, v in configs.items() if k[0] != ORACLE}
        oracle_counts = None
    if SHUFFLED in variants:
        ensure_shuffled(cfg)
    metrics: dict[str, list[dict]] = {v: [] for v in variants}
    for i, ((v, s), (tcfg, ecfg)) in enumerate(configs.items(), 1):
        click.echo(f"cir-claim [{i}/{len(configs)}] {v} seed {s}")
        train(tcfg)
        result = evaluate(ecfg)
        metrics[v].append(result["metrics"])
    summary = summarise(metrics, cfg.seeds)
    if oracle_counts:
        summary["oracle_triplets"] = oracle_counts
    click.echo(format_table(summary))
    keys = summary["keys"]
    png = bar_chart_png(variants, [_short(k) for k in keys],
                        [[summary["variants"][v][k]["mean"] for k in keys] for v in variants],
                        title=f"CIR recall on the world's {cfg.split} split, mean ± std over "
                              f"{len(cfg.seeds)} seeds",
                        errors=[[summary["variants"][v][k]["std"] for k in keys] for v in variants])
    storage.write_bytes(storage.join(cfg.output, "claim.png"), png)
    storage.write_json(storage.join(cfg.output, "claim.json"), summary)
    wall = time.time() - t0
    inputs = {"world": cfg.world, "gallery": cfg.gallery}
    inputs.update({"triplets": cfg.triplets} if cfg.triplets else {})
    inputs.update({"oracle_triplets": cfg.oracle_uri()} if ORACLE in variants else {})
    inputs.update({"shuffled_triplets": storage.join(cfg.output, SHUFFLED_DIR)}
                  if SHUFFLED in variants else {})
    manifest.write_manifest(
        cfg.output, stage=CLAIM_STAGE, config=resolved(cfg), inputs=inputs,
        counts={"runs": len(configs)}, files=["claim.json", "claim.png"], wall_time_s=wall,
        extra={"summary": summary})
    return {"output": cfg.output, "wall_time_s": wall, **summary}


@click.command("cir-claim")
@config_options
@click.option("--output", "-o", default=None, help="Output URI (overrides output).")
def command(config_path, overrides, output):
    """Supervised vs semi-supervised vs oracle retriever over seeds (table + bar chart)."""
    cfg = build_config(ClaimConfig, config_path, overrides, output=output)
    run(cfg)
