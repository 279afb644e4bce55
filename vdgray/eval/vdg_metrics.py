"""How often a generated delta says exactly the true attribute changes (synthetic world).

Each generated text is parsed with the world's exact parser against the reference scene, and
compared with the true changes: exact match (the sets are equal), split by the number of true
changes, and per-attribute precision/recall over (object, attribute, value) changes.
"""

from __future__ import annotations

from collections import defaultdict

from vdgray.data.synthetic.attributes import ATTRIBUTES
from vdgray.data.synthetic.language import UNPARSED, Change


def delta_scores(predicted: list[frozenset[Change]], truth: list[frozenset[Change]]) -> dict:
    """Exact match (all and by number of true changes) and per-attribute precision/recall."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions but {len(truth)} truths")
    by_n: dict[int, list[bool]] = defaultdict(list)
    tp: dict[str, int] = defaultdict(int)
    n_pred: dict[str, int] = defaultdict(int)
    n_true: dict[str, int] = defaultdict(int)
    unparsed = 0
    for p, t in zip(predicted, truth, strict=True):
        by_n[len(t)].append(p == t)
        unparsed += any(c.attribute == UNPARSED for c in p)
        for c in p:
            n_pred[c.attribute] += 1
            tp[c.attribute] += c in t
        for c in t:
            n_true[c.attribute] += 1
    flat = [x for v in by_n.values() for x in v]
    per_attr = {}
    for a in ATTRIBUTES:
        per_attr[a] = {
            "precision": tp[a] / n_pred[a] if n_pred[a] else None,
            "recall": tp[a] / n_true[a] if n_true[a] else None,
            "support": n_true[a], "predicted": n_pred[a],
        }
    return {
        "exact_match": sum(flat) / len(flat) if flat else 0.0,
        "exact_match_by_changes": {str(n): sum(v) / len(v) for n, v in sorted(by_n.items())},
        "count_by_changes": {str(n): len(v) for n, v in sorted(by_n.items())},
        "unparsed_fraction": unparsed / len(flat) if flat else 0.0,
        "per_attribute": per_attr,
    }
