"""Image controls for eval-vdg: does the VDG's delta depend on the images it is shown?

A VDG can reach a fair BLEU/ROUGE (and some exact matches) by writing likely deltas without
looking at its images: the world VDG of session 4 did exactly that. The controls generate a
second and third delta per held-out pair with the images replaced and score them against the
same human text and true changes:

- `reference_twice`: (reference, reference). There is no change to see.
- `swapped`: (target, reference). The change runs the other way.

A VDG that reads its images scores far lower on both than on the true pair; one that scores
about the same ignores them. `image_gain` is the true pair's score minus the best control's.
"""

from __future__ import annotations

CONTROLS: dict[str, tuple[str, str]] = {
    # name -> which query images go in the (reference, target) slots
    "reference_twice": ("reference", "reference"),
    "swapped": ("target", "reference"),
}
HEADLINE = ("bleu4", "rouge_l", "exact_match")


def headline(scores: dict) -> dict:
    """BLEU-4, ROUGE-L and (synthetic world) exact match of one score dict."""
    out = {"bleu4": scores["bleu4"], "rouge_l": scores["rouge_l"]}
    if "delta" in scores:
        out["exact_match"] = scores["delta"]["exact_match"]
    return out


def image_gain(true_scores: dict, controls: dict[str, dict]) -> dict:
    """Per headline metric: the true pair's score minus the best control's."""
    true = headline(true_scores)
    return {k: v - max(c[k] for c in controls.values()) for k, v in true.items()}


def format_controls(results: dict) -> list[str]:
    """Table rows: the true pair, each control, and the image gain."""
    controls = results.get("controls")
    if not controls:
        return []
    true = headline(results)
    keys = [k for k in HEADLINE if k in true]
    names = {"bleu4": "BLEU-4", "rouge_l": "ROUGE-L", "exact_match": "exact"}
    lines = ["image controls (same human text, images replaced):",
             f"{'images':<22}" + "".join(f"{names[k]:>10}" for k in keys)]
    rows = [("true pair", true)] + [(n, c) for n, c in controls.items()]
    rows.append(("image gain", results["image_gain"]))
    for label, s in rows:
        lines.append(f"{label:<22}" + "".join(f"{s[k]:>10.4f}" for k in keys))
    return lines
