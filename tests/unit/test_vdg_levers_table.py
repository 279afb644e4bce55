"""experiments/vdg_levers.py: a recipe whose pipeline stopped is a row that says why, and the
table and plot keep the recipes that were measured (no pipeline runs here)."""

from __future__ import annotations

from helpers.scripts import load_script

from vdgray import manifest
from vdgray.layout import TRIPLETS_STAGE, VDG_EVAL_STAGE


def _claim(semi_r1: float) -> dict:
    def v(r1, r10):
        return {"recall@1": {"mean": r1, "std": 0.5}, "recall@10": {"mean": r10, "std": 1.0}}
    return {"seeds": [0, 1], "variants": {"supervised": v(10.0, 40.0),
                                          "semi-supervised": v(semi_r1, 45.0),
                                          "oracle": v(14.0, 50.0)},
            "gap": {"semi-supervised": {k: {"mean": 1.0, "std": 0.1, "wins": 2}
                                        for k in ("recall@1", "recall@10")}},
            "share": {"recall@1": {"of_means": 0.25}, "recall@10": {"of_means": 0.5}}}


def test_a_stopped_recipe_is_a_row_with_its_reason_and_the_plot_skips_it(tmp_path):
    levers = load_script("experiments/vdg_levers.py")
    root = tmp_path / "describe"
    manifest.write_manifest(str(root / "vdg" / "eval"), stage=VDG_EVAL_STAGE,
                            extra={"results": {"bleu4": 0.0, "rouge_l": 0.1,
                                               "delta": {"exact_match": 0.0}}})
    manifest.write_manifest(str(root / "triplets"), stage=TRIPLETS_STAGE,
                            counts={"pairs": 120, "triplets": 0, "removed_empty": 120})
    stopped = levers.row({"name": "describe"}, root,
                         error="triplets: x holds 0 pseudo triplets\nmore")
    assert stopped["claim"] is None and stopped["triplets"]["triplets"] == 0
    assert stopped["vdg"]["exact_match"] == 0.0
    measured = {"recipe": {"name": "delta"}, "vdg": {"bleu4": 0.2, "exact_match": 0.3},
                "triplets": {"triplets": 90}, "claim": _claim(11.0)}
    md = levers.table([stopped, measured])
    assert "| describe | 0.000 | 0.000 | 0 | stopped: triplets: x holds 0 pseudo triplets |" in md
    assert "| delta | 0.300 | 0.200 | 90 | 11.00 ± 0.50 |" in md and "25%" in md and "50%" in md
    assert "supervised R@1 10.00 ± 0.50" in md
    assert levers.plot([stopped, measured])[:4] == b"\x89PNG"
    nothing = levers.row({"name": "early"}, tmp_path / "early", error="vdg-align failed")
    assert nothing["vdg"] is None and nothing["claim"] is None
    assert "| early |  |  |  | stopped: vdg-align failed |" in levers.table([nothing])
