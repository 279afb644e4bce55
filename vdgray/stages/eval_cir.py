"""`vdgray eval`: evaluate a CIR model on CIRR, FashionIQ or a synthetic world.

CIRR val: whole-split gallery with the reference removed, R@1/5/10/50 and Rsubset@1/2/3.
CIRR val and test1 both write the two test-server submission files (test1 has no public
targets; a synthetic world's test1 is also scored, from its truth/queries.parquet). The
format (`auto`) and the image root are found from the root (`data.formats`, `data.image_root`). FashionIQ val: each
category's gallery, R@10/R@50 per category and their average. The gallery is embedded once
with Ray Data and cached in storage (`eval.cir_embed`); outputs are metrics.json,
rankings.parquet (top 50 per query keyed by pairid, or by category + query index) and a
manifest (stage "eval") written last.
"""

from __future__ import annotations

import time

import click
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vdgray import manifest, storage
from vdgray.config import Uri, UseGpu, resolved
from vdgray.data.formats import AUTO, DataFormat, resolve_format
from vdgray.data.image_root import IMAGE_ROOT_HELP
from vdgray.errors import ConfigError
from vdgray.gallery_embed import EncoderPoolFields
from vdgray.layout import (
    EVAL_STAGE,
    METRICS_FILE,
    RANKINGS_FILE,
    cirr_root_for,
    eval_cache_uri,
    gallery_cache_key,
)
from vdgray.runtime import ensure_ray, resolve_use_gpu
from vdgray.stage_options import build_config, config_options

# the splits each format evaluates; auto allows any until the root says which format it is
SPLITS = {"cirr": ("val", "test1"), "world": ("val", "test1"), "fashioniq": ("val", "test"),
          AUTO: ("val", "test", "test1")}


def data_problem(fmt: str, split: str, categories) -> str | None:
    """What is wrong with `split` and `categories` for format `fmt`, or None (auto allows
    any split and categories until the root says which format it is)."""
    ok = SPLITS[fmt]
    if split not in ok:
        return f"data.split: {fmt} splits are {ok}, got {split!r}"
    if categories and fmt not in ("fashioniq", AUTO):
        return "data.categories: only for FashionIQ"
    return None


class EvalData(BaseModel):
    """The benchmark to evaluate on."""

    model_config = ConfigDict(extra="forbid")

    format: DataFormat = Field("auto", description="cirr (CIRR root), fashioniq (FashionIQ root), world (synthetic world URI; its cirr/ split), or auto: detected from the root (a world's cirr/_manifest.json, captions/cap.rc2.*.json, captions/cap.<category>.*.json).")
    root: str = Field(..., description="Dataset root URI (local or s3://).")
    split: str = Field("val", description="cirr/world: val or test1; fashioniq: val (or test).")
    categories: list[str] | None = Field(None, description="FashionIQ categories (default: all three).")
    image_root: str | None = Field(None, description=IMAGE_ROOT_HELP)

    def resolved(self) -> EvalData:
        """This data with `format: auto` detected from the root, its split and categories
        checked against the detected format (ConfigError naming the key)."""
        fmt = resolve_format(self.format, self.root)
        if problem := data_problem(fmt, self.split, self.categories):
            raise ConfigError(f"{problem} ({self.root} holds {fmt})")
        return self.model_copy(update={"format": fmt})


class EvalConfig(EncoderPoolFields):
    """Settings of `vdgray eval`."""

    model: Uri = Field(..., description="CIR model dir URI (the output of train-cir).")
    data: EvalData = Field(..., description="What to evaluate on.")
    output: Uri = Field(..., description="Where metrics.json, rankings.parquet (+ submissions) and _manifest.json go.")
    cache: Uri | None = Field(None, description="Gallery-embedding cache URI (default: <output's parent>/eval-cache).")
    use_gpu: UseGpu = Field(False, description="One GPU per gallery actor (and the query encoder): false, true, or auto (when the cluster has GPUs).")
    overwrite: bool = Field(False, description="Redo a finished evaluation.")

    @model_validator(mode="after")
    def _check(self):
        if problem := data_problem(self.data.format, self.data.split, self.data.categories):
            raise ValueError(problem)
        return self

    def cache_uri(self) -> str:
        return eval_cache_uri(self.output, self.cache)


def _gallery(cfg: EvalConfig, table: pa.Table, what: str, image_root: str):
    from vdgray.eval.cir_embed import gallery_embeddings

    key = gallery_cache_key(cfg.data.format, cfg.data.root, cfg.data.split, what,
                            table.num_rows, image_root)
    return gallery_embeddings(cfg.model, table, cfg.cache_uri(), key, cfg.batch_size,
                              cfg.concurrency, cfg.num_cpus_per_actor, resolve_use_gpu(cfg.use_gpu),
                              ray_cfg=cfg.ray, what=cfg.output)


def _eval_cirr(cfg: EvalConfig, model) -> tuple[dict | None, pa.Table, dict]:
    import numpy as np

    from vdgray.data.cirr import load_cirr
    from vdgray.data.synthetic.truth import world_test1_targets
    from vdgray.eval.cir_embed import query_embeddings
    from vdgray.eval.cir_score import score_cirr
    from vdgray.eval.submission import write_cirr_submission

    root = cirr_root_for(cfg.data.root, cfg.data.format)
    # every image checked (one listing) before Ray embeds them: a missing file is one line
    split = load_cirr(root, cfg.data.split, image_root=cfg.data.image_root, check_images=True)
    emb, hit = _gallery(cfg, split.images_table(), "cirr", split.image_root)
    names = split.gallery_names
    g = np.stack([emb[n] for n in names])
    q = query_embeddings(model, split.read_image, [x.reference for x in split.queries],
                         [x.caption for x in split.queries], cfg.batch_size)
    targets = None
    if cfg.data.split == "test1" and cfg.data.format == "world":
        targets = world_test1_targets(cfg.data.root, split.queries)
    metrics, table = score_cirr(q, g, names, split.queries, targets)
    extra = {"queries": len(split.queries), "gallery": len(names), "cache_hit": hit,
             "image_root": split.image_root}
    # val and test1 alike write the test server's files (check a file before sending one)
    uris = write_cirr_submission(
        cfg.output, table.column("pairid").to_pylist(), table.column("top50").to_pylist(),
        table.column("subset_top3").to_pylist(), allow_short=len(names) <= 50)
    extra["submissions"] = [u.rsplit("/", 1)[-1] for u in uris]
    return metrics, table, extra


def _eval_fashioniq(cfg: EvalConfig, model) -> tuple[dict | None, pa.Table, dict]:
    import numpy as np

    from vdgray.data.fashioniq import FASHIONIQ_CATEGORIES, load_fashioniq
    from vdgray.eval.cir_embed import query_embeddings
    from vdgray.eval.cir_score import score_fashioniq

    cats = cfg.data.categories or list(FASHIONIQ_CATEGORIES)
    split = load_fashioniq(cfg.data.root, cfg.data.split, cats, image_root=cfg.data.image_root)
    emb, hit = _gallery(cfg, split.images_table(), "fashioniq:" + ",".join(cats),
                        split.image_root)
    per_cat = {}
    for cat in cats:
        qs = split.category_queries(cat)
        names = split.galleries[cat]
        g = np.stack([emb[n] for n in names])
        q = query_embeddings(model, split.read_image, [x.reference for x in qs],
                             [x.text for x in qs], cfg.batch_size)
        per_cat[cat] = (q, g, names, qs)
    metrics, table = score_fashioniq(per_cat)
    return metrics, table, {"queries": table.num_rows, "cache_hit": hit,
                            "gallery": {c: len(split.galleries[c]) for c in cats},
                            "image_root": split.image_root}


def run(cfg: EvalConfig) -> dict:
    """Evaluate; returns {"output", "metrics", ...}."""
    from vdgray.models.cir import load_cir

    t0 = time.time()
    if manifest.is_complete(cfg.output, EVAL_STAGE) and not cfg.overwrite:
        doc = manifest.read_manifest(cfg.output, EVAL_STAGE)
        click.echo(f"eval: {cfg.output} is already complete (set overwrite=true to redo)")
        return {"output": cfg.output, "skipped": True, "metrics": doc.get("metrics")}
    cfg = cfg.model_copy(update={"data": cfg.data.resolved()})
    storage.ensure_bucket(cfg.output)
    storage.ensure_bucket(cfg.cache_uri())
    ensure_ray(cfg.ray)
    model = load_cir(cfg.model)
    if resolve_use_gpu(cfg.use_gpu):
        model.to("cuda")
    fn = _eval_fashioniq if cfg.data.format == "fashioniq" else _eval_cirr
    metrics, table, extra = fn(cfg, model)
    storage.write_parquet(storage.join(cfg.output, RANKINGS_FILE), table)
    doc = {"model": cfg.model, "format": cfg.data.format, "root": cfg.data.root,
           "split": cfg.data.split, "metrics": metrics, **extra}
    storage.write_json(storage.join(cfg.output, METRICS_FILE), doc)
    wall = time.time() - t0
    manifest.write_manifest(
        cfg.output, stage=EVAL_STAGE, config=resolved(cfg),
        inputs={"model": cfg.model, "data": cfg.data.root},
        counts={"queries": table.num_rows},
        files=[RANKINGS_FILE, METRICS_FILE] + extra.get("submissions", []),
        wall_time_s=wall, extra={"metrics": metrics},
    )
    click.echo(f"eval: {cfg.data.format} {cfg.data.split} ({table.num_rows} queries) "
               f"{format_metrics(metrics)} in {wall:.1f}s -> {cfg.output}")
    return {"output": cfg.output, "metrics": metrics, "wall_time_s": wall, **extra}


def format_metrics(metrics: dict | None) -> str:
    if not metrics:
        return "(no targets: submission files written)"
    flat = metrics.get("average", metrics)
    return " ".join(f"{k.replace('recall', 'R')} {v:.1f}" for k, v in flat.items())


@click.command("eval")
@config_options
@click.option("--model", default=None, help="CIR model URI (overrides model).")
@click.option("--data", "data_root", default=None, help="Dataset root URI (overrides data.root).")
@click.option("--split", default=None, help="Split (overrides data.split).")
@click.option("--output", "-o", default=None, help="Output URI (overrides output).")
def command(config_path, overrides, model, data_root, split, output):
    """Evaluate a CIR model (CIRR val/test1, FashionIQ val, synthetic world)."""
    cfg = build_config(EvalConfig, config_path, overrides, model=model,
                       **{"data.root": data_root, "data.split": split}, output=output)
    run(cfg)
