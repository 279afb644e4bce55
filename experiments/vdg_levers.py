"""Which levers make the world VDG's pseudo triplets worth training on? Each one, measured.

Every recipe is the default demo's VDG chain (`vdgray/configs/demo-default.yaml`) with some
settings changed: the response format (`describe`), the world LM's language prior
(`prior_texts`), more stage-1 data (`rendered_pairs`), the retriever filter, ... It runs the
real pipeline stages (vdg-assemble, vdg-align, vdg-instruct, vdg-export, eval-vdg, generate,
cir-claim) on one base run's world, encoder and mined pairs, so recipes differ only in the VDG.
Every recipe's cir-claim shares the base's supervised runs and one oracle (the world's true
deltas for the pairs generate reads, before its filters), so each recipe adds only its VDG and
its semi-supervised runs; the table gives its delta quality and its share of the oracle's gain.

    python experiments/vdg_levers.py --base runs/regime --recipes experiments/vdg_levers.yaml \
        --out runs/levers

`--base` is a pipeline root holding finished world/, encoder/, embeddings/ and pairs/ (the
first stages of `vdgray demo`). Results: each recipe's pipeline root under `--out`,
`levers.json`, `levers.md` and `levers.png`. A re-run skips what finished.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from vdgray import manifest, storage
from vdgray.config import deep_merge
from vdgray.errors import VdgrayError
from vdgray.layout import CLAIM_STAGE, PAIRS_STAGE, TRIPLETS_STAGE

SHARED = ("synth", "train-encoder", "embed", "mine")  # taken from --base, never re-run
VDG_STAGES = ("vdg-assemble", "vdg-lm", "vdg-align", "vdg-instruct", "vdg-export", "eval-vdg",
              "generate", "cir-claim")


def load_recipes(path: str) -> list[dict]:
    recipes = yaml.safe_load(Path(path).read_text())
    if not isinstance(recipes, list) or not recipes:
        raise SystemExit(f"{path}: expected a non-empty YAML list of recipes")
    for r in recipes:
        bad = set(r) - {"name", "settings", "stages"}
        if bad or "name" not in r:
            raise SystemExit(f"{path}: recipe {r} has unknown keys {sorted(bad)} or no name")
        unknown = set(r.get("settings", {})) - set(VDG_STAGES)
        if unknown:
            raise SystemExit(f"{path}: recipe {r['name']} sets stages {sorted(unknown)}; only "
                             f"{VDG_STAGES} differ between recipes")
    return recipes


def link_base(base: str, root: Path) -> None:
    """The recipe's root reuses the base run's world, encoder, embeddings and pairs."""
    from vdgray.pipeline import STAGES

    root.mkdir(parents=True, exist_ok=True)
    for stage in SHARED:
        sub = STAGES[stage].output
        target = root / sub
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(Path(base, sub).resolve(), target)


def shared_runs(out: Path, root: Path, seeds: list[int]) -> None:
    """Point the recipe's supervised and oracle cir-claim runs at shared ones (trained once:
    they do not depend on the VDG)."""
    claim = root / "claim"
    claim.mkdir(parents=True, exist_ok=True)
    for variant in ("supervised", "oracle"):
        for s in seeds:
            mine, shared = claim / f"{variant}-seed{s}", out / "_shared" / f"{variant}-seed{s}"
            shared.mkdir(parents=True, exist_ok=True)
            if not mine.exists():
                os.symlink(shared.resolve(), mine)


def shared_oracle(base: str, out: Path, max_pairs: int) -> str:
    """Oracle triplets for the first `max_pairs` mined pairs (what generate reads)."""
    from vdgray.data.synthetic.oracle import write_oracle_triplets

    uri = str(out / "_shared" / "oracle-triplets")
    if not manifest.is_complete(uri, TRIPLETS_STAGE):
        pairs = manifest.read_dataset(str(Path(base, "pairs")), PAIRS_STAGE,
                                      columns=["reference_id", "target_id"])
        write_oracle_triplets(str(Path(base, "world")), pairs.slice(0, max_pairs), uri,
                              inputs={"pairs": str(Path(base, "pairs"))})
    return uri


def recipe_settings(recipe: dict, preset: str) -> tuple[list[str], dict]:
    """(stages, settings) of one recipe: the preset's VDG chain with the recipe's settings."""
    from vdgray.demo import preset_path

    doc = yaml.safe_load(preset_path(preset).read_text())
    stages = recipe.get("stages") or [s for s in doc["stages"] if s in VDG_STAGES]
    settings = {s: v for s, v in doc["settings"].items() if s in stages}
    return stages, deep_merge(settings, recipe.get("settings", {}))


def recipe_config(recipe: dict, args, oracle: str):
    """The pipeline config of one recipe, its cir-claim on the shared oracle."""
    from vdgray.pipeline import PipelineConfig

    stages, settings = recipe_settings(recipe, args.preset)
    settings["cir-claim"] = deep_merge(settings.get("cir-claim", {}),
                                       {"seeds": args.seeds, "oracle_triplets": oracle})
    return PipelineConfig(output=str(Path(args.out, recipe["name"])), stages=stages,
                          settings=settings, ray={"num_cpus": args.num_cpus})


def row(recipe: dict, root: Path, error: str | None = None) -> dict:
    """What one recipe measured: delta quality, triplets kept, and the claim summary; a recipe
    whose pipeline stopped (e.g. its VDG kept no triplets) keeps what it reached and why."""
    def finished(sub: str, stage: str | None = None) -> dict | None:
        uri = str(root / sub)
        return manifest.read_manifest(uri, stage) if manifest.is_complete(uri, stage) else None

    vdg_eval, trip, claim = (finished("vdg/eval"), finished("triplets", TRIPLETS_STAGE),
                             finished("claim", CLAIM_STAGE))
    out = {"recipe": recipe, "triplets": (trip or {}).get("counts", {}),
           "claim": (claim or {}).get("summary"), **({"error": error} if error else {})}
    if vdg_eval is None:
        return {**out, "vdg": None, "image_gain": {}}
    vdg = vdg_eval["results"]
    delta = vdg.get("delta") or {}
    return {**out, "vdg": {"bleu4": vdg["bleu4"], "rouge_l": vdg["rouge_l"],
                                      "exact_match": delta.get("exact_match"),
                                      "exact_by_changes": delta.get("exact_match_by_changes"),
                                      "unparsed": delta.get("unparsed_fraction")},
            "image_gain": vdg.get("image_gain", {})}


def table(rows: list[dict]) -> str:
    """Markdown: one row per recipe."""
    from vdgray.stages.cir_claim import mean_std

    head = ("| recipe | exact | BLEU-4 | triplets | semi R@1 | semi R@10 | gap R@1 | gap R@10 "
            "| share R@1 | share R@10 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def pct(share: dict, k: str) -> str:
        s = share.get(k, {}).get("of_means")
        return "n/a" if s is None else f"{100 * s:.0f}%"

    for r in rows:
        c, v = r["claim"], r["vdg"] or {}
        if c is None:
            exact, bleu = v.get("exact_match"), v.get("bleu4")
            why = r.get("error", "?").splitlines()[0].replace("|", "/")
            lines.append(f"| {r['recipe']['name']} | {'' if exact is None else f'{exact:.3f}'} "
                         f"| {'' if bleu is None else f'{bleu:.3f}'} "
                         f"| {r['triplets'].get('triplets', '')} | stopped: {why} | | | | | |")
            continue
        semi, gap, share = (c["variants"]["semi-supervised"], c["gap"]["semi-supervised"],
                            c.get("share", {}))
        exact = r["vdg"]["exact_match"]
        lines.append(
            f"| {r['recipe']['name']} | {'' if exact is None else f'{exact:.3f}'} "
            f"| {r['vdg']['bleu4']:.3f} | {r['triplets'].get('triplets')} "
            f"| {mean_std(semi['recall@1'])} "
            f"| {mean_std(semi['recall@10'])} "
            f"| {gap['recall@1']['mean']:+.2f} ({gap['recall@1']['wins']}/{len(c['seeds'])}) "
            f"| {gap['recall@10']['mean']:+.2f} ({gap['recall@10']['wins']}/{len(c['seeds'])}) "
            f"| {pct(share, 'recall@1')} | {pct(share, 'recall@10')} |")
    measured = [r for r in rows if r["claim"]]
    if measured:
        c = measured[0]["claim"]
        sup, ora = c["variants"]["supervised"], c["variants"]["oracle"]
        lines.append(f"\nsupervised R@1 {mean_std(sup['recall@1'])}, "
                     f"R@10 {mean_std(sup['recall@10'])}; "
                     f"oracle R@1 {mean_std(ora['recall@1'])}, "
                     f"R@10 {mean_std(ora['recall@10'])} "
                     f"({len(c['seeds'])} seeds, shared by every recipe)")
    return "\n".join(lines)


def plot(rows: list[dict]) -> bytes:
    """R@1 and R@10 per measured recipe beside supervised and the oracle."""
    from vdgray.eval.plots import bar_chart_png

    rows = [r for r in rows if r["claim"]]
    c0 = rows[0]["claim"]
    labels = ["supervised"] + [r["recipe"]["name"] for r in rows] + ["oracle"]
    variants = ([c0["variants"]["supervised"]] + [r["claim"]["variants"]["semi-supervised"]
                                                  for r in rows] + [c0["variants"]["oracle"]])
    keys = ["recall@1", "recall@10"]
    return bar_chart_png(labels, ["R@1", "R@10"], [[v[k]["mean"] for k in keys] for v in variants],
                         title="Retriever trained with each VDG recipe's pseudo triplets",
                         errors=[[v[k]["std"] for k in keys] for v in variants])


def main(argv=None) -> dict:
    from vdgray.pipeline import run_pipeline
    from vdgray.stages.cir_claim import format_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="pipeline root with world/encoder/embeddings/pairs")
    ap.add_argument("--recipes", required=True, help="YAML list of recipes")
    ap.add_argument("--out", required=True, help="output folder (local)")
    ap.add_argument("--preset", default="default", help="demo preset the recipes start from")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated cir-claim seeds")
    ap.add_argument("--only", default=None, help="comma-separated recipe names to run")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    recipes = load_recipes(args.recipes)
    if args.only:
        recipes = [r for r in recipes if r["name"] in set(args.only.split(","))]
    out = Path(args.out)
    rows = []
    for i, recipe in enumerate(recipes, 1):
        print(f"vdg-levers [{i}/{len(recipes)}] {recipe['name']}: {recipe.get('settings', {})}",
              flush=True)
        root = out / recipe["name"]
        link_base(args.base, root)
        shared_runs(out, root, args.seeds)
        max_pairs = recipe_settings(recipe, args.preset)[1].get("generate", {}).get("max_pairs")
        oracle = shared_oracle(args.base, out, max_pairs or 10**9)
        try:
            run_pipeline(recipe_config(recipe, args, oracle))
        except VdgrayError as e:  # one recipe's failure is its result; the others still run
            print(f"vdg-levers: {recipe['name']} stopped: {e}", flush=True)
            rows.append(row(recipe, root, error=str(e)))
            continue
        rows.append(row(recipe, root))
        print(format_table(rows[-1]["claim"]), flush=True)
    md = table(rows)
    storage.write_text(str(out / "levers.md"), md + "\n")
    if any(r["claim"] for r in rows):
        storage.write_bytes(str(out / "levers.png"), plot(rows))
    doc = {"seeds": args.seeds, "rows": rows}
    storage.write_json(str(out / "levers.json"), doc)
    print(md)
    return doc


if __name__ == "__main__":
    main()
