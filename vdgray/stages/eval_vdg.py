"""`vdgray eval-vdg`: delta quality of a VDG on held-out human pairs.

Generates a delta for each (reference, target) query of a CIRR split and scores it against the
human text (corpus BLEU-4, mean ROUGE-L). On a synthetic world (`truth/` present) it also
parses every generated delta against the reference scene and reports the fraction whose
changes equal the true changes exactly (overall and for 1 vs 2 true changes) and per-attribute
precision/recall. With `controls` (the default) it scores the same queries again with the
images replaced (`eval.vdg_controls`), which shows whether the deltas depend on the images at
all.
Writes results.json, predictions.parquet, a bar chart and a "vdg-eval" manifest; prints a
table.
"""

from __future__ import annotations

import json
import time

import click
import pyarrow as pa
from pydantic import Field, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri, resolved
from vdgray.data.image_root import IMAGE_ROOT_HELP
from vdgray.errors import DataFormatError
from vdgray.eval.vdg_controls import CONTROLS, format_controls, headline, image_gain
from vdgray.layout import (
    TRUTH,
    TRUTH_IMAGES,
    TRUTH_QUERIES,
    TRUTH_STAGE,
    VDG_EVAL_STAGE,
    cirr_root,
    world_part,
)
from vdgray.models.vdg.prompt import DESCRIBE, MAX_NEW_TOKENS, TEMPERATURE, TOP_K
from vdgray.stage_options import build_config, config_options

TRUE_PAIR = "true pair"


class EvalVdgConfig(StageConfig):
    """Settings of `vdgray eval-vdg`."""

    model: Uri = Field(..., description="VDG dir/URI (trained with adapter/, or exported).")
    output: Uri = Field(..., description="Where results.json, predictions and the chart go.")
    world: Uri | None = Field(None, description="Synthetic world URI (CIRR at <world>/cirr + truth/).")
    cirr: Uri | None = Field(None, description="CIRR root (default <world>/cirr).")
    image_root: Uri | None = Field(None, description=IMAGE_ROOT_HELP)
    split: str = Field("val", description="CIRR split with targets (val or train).")
    limit: int | None = Field(None, ge=1, description="Evaluate only the first N queries.")
    batch_size: int = Field(16, ge=1, description="Pairs per generate call.")
    do_sample: bool = Field(True, description="Sample (paper) or greedy decoding.")
    temperature: float = Field(TEMPERATURE, gt=0, description="Sampling temperature (paper 0.2).")
    top_k: int = Field(TOP_K, ge=1, description="Sampling top-k (paper 50).")
    max_new_tokens: int | None = Field(None, ge=1, description=f"Max new tokens (null: what the model's response format needs; the paper's delta: {MAX_NEW_TOKENS}).")
    seed: int = Field(0, ge=0, description="Sampling seed.")
    torch_threads: int | None = Field(None, ge=1, description="torch CPU threads.")
    controls: bool = Field(True, description="Also score (reference, reference) and (target, "
                           "reference) inputs: a VDG that reads its images scores far lower.")

    @model_validator(mode="after")
    def _check(self):
        if not (self.world or self.cirr):
            raise ValueError("cirr: give cirr or world")
        if self.split == "test1":
            raise ValueError("split: test1 has no targets to generate deltas for")
        return self


def _truth(world: str, split: str):
    """pairid -> (true change set, reference scene) from W/truth, or None without truth/."""
    from vdgray.data.synthetic.attributes import Scene
    from vdgray.data.synthetic.language import change_key

    truth = world_part(world, TRUTH)
    if not manifest.is_complete(truth, TRUTH_STAGE):
        return None
    q = storage.read_parquet([storage.join(truth, TRUTH_QUERIES)]).to_pylist()
    im = storage.read_parquet([storage.join(truth, TRUTH_IMAGES)],
                              columns=["name", "attributes"]).to_pylist()
    scenes = {r["name"]: r["attributes"] for r in im}
    out = {}
    for r in q:
        if r["split"] == split:
            try:
                out[r["pairid"]] = (change_key(json.loads(r["changes"])),
                                    Scene.from_json(scenes[r["reference"]]))
            except (KeyError, ValueError) as e:
                raise DataFormatError(f"{truth}/queries.parquet: pairid {r['pairid']}: {e}") from None
    return out


def _captions(world: str) -> dict[str, str]:
    t = storage.read_parquet([storage.join(world_part(world, TRUTH), TRUTH_IMAGES)],
                             columns=["name", "caption"])
    return dict(zip(t.column("name").to_pylist(), t.column("caption").to_pylist(), strict=True))


def describe_scores(responses: list[str], queries, captions: dict[str, str],
                    exact: list[bool]) -> dict:
    """How a describe VDG's errors split into reading and comparing: how often it describes
    the reference / the target exactly (its caption), and its exact-change rate when both
    descriptions are right vs when one is wrong."""
    from vdgray.data.synthetic.language import normalise
    from vdgray.models.vdg.prompt import AFTER, BEFORE, CHANGE

    def parts(r: str) -> tuple[str, str]:
        head = r.rpartition(CHANGE)[0] if CHANGE in r else r
        before, _, after = head.partition(AFTER)
        return normalise(before.replace(BEFORE, "", 1)), normalise(after)

    ref_ok, tgt_ok = [], []
    for r, q in zip(responses, queries, strict=True):
        b, a = parts(r)
        ref_ok.append(b == normalise(captions[q.reference]))
        tgt_ok.append(a == normalise(captions[q.target]))
    both = [x and y for x, y in zip(ref_ok, tgt_ok, strict=True)]

    def rate(mask: list[bool]) -> float | None:
        hits = [e for e, m in zip(exact, mask, strict=True) if m]
        return sum(hits) / len(hits) if hits else None
    n = len(responses) or 1
    return {"reference_described": sum(ref_ok) / n, "target_described": sum(tgt_ok) / n,
            "both_described": sum(both) / n,
            "exact_when_both_described": rate(both),
            "exact_otherwise": rate([not b for b in both]),
            "stated_a_change": sum(CHANGE in r for r in responses) / n}


def format_table(results: dict) -> str:
    """The human-readable summary table."""
    lines = [f"{'metric':<28}{'value':>10}", "-" * 38,
             f"{'queries':<28}{results['queries']:>10}",
             f"{'BLEU-4':<28}{results['bleu4']:>10.4f}", f"{'ROUGE-L':<28}{results['rouge_l']:>10.4f}"]
    d = results.get("delta")
    if d:
        lines.append(f"{'exact match (all)':<28}{d['exact_match']:>10.4f}")
        for n, v in d["exact_match_by_changes"].items():
            label = f"exact match ({n} chg, n={d['count_by_changes'][n]})"
            lines.append(f"{label:<28}{v:>10.4f}")
        lines.append(f"{'unparsed fraction':<28}{d['unparsed_fraction']:>10.4f}")
        for k, v in (results.get("describe") or {}).items():
            lines.append(f"{k.replace('_', ' '):<28}{'-' if v is None else f'{v:.4f}':>10}")
        lines.append(f"{'attribute':<14}{'precision':>12}{'recall':>12}")
        for a, s in d["per_attribute"].items():
            p = "-" if s["precision"] is None else f"{s['precision']:.3f}"
            r = "-" if s["recall"] is None else f"{s['recall']:.3f}"
            lines.append(f"{a:<14}{p:>12}{r:>12}")
    lines += format_controls(results)
    return "\n".join(lines)


def _chart(results: dict) -> bytes:
    """Bars of every score; with controls, grouped by the images the VDG was shown."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = ["BLEU-4", "ROUGE-L"], [results["bleu4"], results["rouge_l"]]
    d = results.get("delta")
    if d:
        labels.append("exact")
        values.append(d["exact_match"])
        for n, v in d["exact_match_by_changes"].items():
            labels.append(f"exact@{n}")
            values.append(v)
    series = [("true pair", values)]
    for name, c in results.get("controls", {}).items():
        series.append((name, [c[k] for k in ("bleu4", "rouge_l", "exact_match") if k in c]))
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / len(series)
    for i, (name, vals) in enumerate(series):
        ax.bar([x + i * width for x in range(len(vals))], vals, width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylim(0, 1)
    ax.set_title("VDG delta quality")
    if len(series) > 1:
        ax.legend(fontsize="small")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _generate(gen, split, queries, batch_size: int,
              inputs: dict[str, tuple[str, str]], responses: list | None = None
              ) -> dict[str, list[str]]:
    """One delta per query for each named input (which query images fill the reference and
    target slots). Each batch's images are read once and shared by every input; `responses`
    collects the whole responses to the true pairs."""
    texts: dict[str, list[str]] = {name: [] for name in inputs}
    for i in range(0, len(queries), batch_size):
        qs = queries[i:i + batch_size]
        images = {"reference": [split.read_image(q.reference) for q in qs],
                  "target": [split.read_image(q.target) for q in qs]}
        for name, (first, second) in inputs.items():
            out = gen({"reference_image": images[first], "target_image": images[second]})
            texts[name] += out["text"]
            if responses is not None and name == TRUE_PAIR:
                responses += out["response"]
        click.echo(f"eval-vdg: {i + len(qs)}/{len(queries)} pairs generated "
                   f"({len(inputs)} image inputs each)", err=True)
    return texts


def _score(texts: list[str], queries, truth) -> tuple[dict, list]:
    """BLEU-4/ROUGE-L against the human text; exact match etc. with truth; the parsed sets."""
    from vdgray.data.synthetic.language import parse_delta
    from vdgray.eval.text_metrics import corpus_bleu, mean_rouge_l
    from vdgray.eval.vdg_metrics import delta_scores

    human = [q.caption for q in queries]
    scores: dict = {"bleu4": corpus_bleu(texts, human), "rouge_l": mean_rouge_l(texts, human)}
    if truth is None:
        return scores, []
    pred = [parse_delta(t, truth[q.pairid][1]) for q, t in zip(queries, texts, strict=True)]
    scores["delta"] = delta_scores(pred, [truth[q.pairid][0] for q in queries])
    return scores, pred


def run(cfg: EvalVdgConfig) -> dict:
    """Generate, score, write outputs; returns the results dict."""
    import torch

    from vdgray.data.cirr import load_cirr
    from vdgray.models.vdg.generate import DeltaGenerator

    t0 = time.time()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    root = cfg.cirr or cirr_root(cfg.world)
    split = load_cirr(root, cfg.split, image_root=cfg.image_root)
    queries = split.queries[:cfg.limit] if cfg.limit else split.queries
    truth = _truth(cfg.world, cfg.split) if cfg.world else None
    gen = DeltaGenerator(cfg.model, do_sample=cfg.do_sample, temperature=cfg.temperature,
                         top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                         keep_response=True)
    inputs = {TRUE_PAIR: ("reference", "target"), **(CONTROLS if cfg.controls else {})}
    responses: list[str] = []
    generated = _generate(gen, split, queries, cfg.batch_size, inputs, responses)
    texts = generated.pop(TRUE_PAIR)
    scores, pred = _score(texts, queries, truth)
    results: dict = {"queries": len(queries), **scores, "model": cfg.model, "split": cfg.split,
                     "response_format": gen.format}
    if gen.format == DESCRIBE and truth is not None:
        exact = [p == truth[q.pairid][0] for p, q in zip(pred, queries, strict=True)]
        results["describe"] = describe_scores(responses, queries, _captions(cfg.world), exact)
    columns = {"pairid": [q.pairid for q in queries],
               "reference_id": [q.reference for q in queries],
               "target_id": [q.target for q in queries], "text": texts,
               "human": [q.caption for q in queries], "response": responses,
               "parsed": [json.dumps(sorted([list(c) for c in p], key=str)) for p in pred]
               if truth is not None else [""] * len(queries)}
    if cfg.controls:
        results["controls"] = {name: headline(_score(c_texts, queries, truth)[0])
                               for name, c_texts in generated.items()}
        columns |= {f"text_{name}": c_texts for name, c_texts in generated.items()}
        results["image_gain"] = image_gain(results, results["controls"])
    storage.ensure_bucket(cfg.output)
    storage.write_json(storage.join(cfg.output, "results.json"), results)
    storage.write_parquet(storage.join(cfg.output, "predictions.parquet"), pa.table(columns))
    storage.write_bytes(storage.join(cfg.output, "delta_quality.png"), _chart(results))
    wall = time.time() - t0
    manifest.write_manifest(cfg.output, stage=VDG_EVAL_STAGE, config=resolved(cfg),
                            inputs={"model": cfg.model, "cirr": root},
                            counts={"queries": len(queries)},
                            files=["predictions.parquet"], wall_time_s=wall,
                            extra={"results": results})
    results["wall_time_s"] = wall
    click.echo(format_table(results))  # here, not in the CLI only: the demo shows it too
    return results


@click.command("eval-vdg")
@config_options
@click.option("--model", "-m", default=None, help="VDG dir/URI (overrides model).")
@click.option("--world", default=None, help="Synthetic world URI (overrides world).")
@click.option("--output", "-o", default=None, help="Results URI (overrides output).")
def command(config_path, overrides, model, world, output):
    """Generate deltas for held-out human pairs; BLEU-4, ROUGE-L and (synthetic) exact match."""
    cfg = build_config(EvalVdgConfig, config_path, overrides, model=model, world=world,
                       output=output)
    results = run(cfg)
    click.echo(f"eval-vdg: {results['wall_time_s']:.0f}s -> {cfg.output}")
