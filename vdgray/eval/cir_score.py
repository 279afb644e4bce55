"""Scores, metrics and rankings from query and gallery embeddings (no Ray, no model).

Kept apart from the stage so the protocol can be checked on hand-built embeddings: CIRR
ranks the WHOLE split gallery with the query's reference removed (R@1/5/10/50) and its
img_set members minus the reference (Rsubset@1/2/3); FashionIQ ranks each category's
gallery, reference kept (R@10/50 and the mean). Rankings keep the top 50 (and the subset
top 3) by name, so anyone can re-score them or submit them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from vdgray.eval.metrics import (
    cirr_metrics,
    fashioniq_metrics,
    rank_gallery,
    rank_subsets,
)

TOP_K = 50
SUBSET_K = 3


def scores(query_emb: np.ndarray, gallery_emb: np.ndarray) -> np.ndarray:
    """Cosine scores [Q, G] of L2-normalised embeddings (float32)."""
    return np.asarray(query_emb, np.float32) @ np.asarray(gallery_emb, np.float32).T


def score_cirr(query_emb, gallery_emb, gallery_names: Sequence[str], queries,
               targets: Sequence[str] | None = None) -> tuple[dict | None, pa.Table]:
    """CIRR metrics (None without targets) and rankings of `queries` (CirrQuery-like).

    `targets` overrides the queries' own targets (e.g. the synthetic world's test1 truth).
    """
    s = scores(query_emb, gallery_emb)
    refs = [q.reference for q in queries]
    members = [list(q.members) for q in queries]
    top = rank_gallery(s, gallery_names, exclude=refs, k=TOP_K)
    subset = rank_subsets(s, gallery_names, members, exclude=refs, k=SUBSET_K)
    targets = list(targets) if targets is not None else [q.target for q in queries]
    metrics = None
    if all(t is not None for t in targets):
        metrics = cirr_metrics(s, gallery_names, refs, targets, members)
    table = pa.table({
        "pairid": pa.array([q.pairid for q in queries], pa.int64()),
        "reference": pa.array(refs, pa.string()),
        "target": pa.array(targets, pa.string()),
        "top50": pa.array(top, pa.list_(pa.string())),
        "subset_top3": pa.array(subset, pa.list_(pa.string())),
    })
    return metrics, table


def score_fashioniq(per_category: dict) -> tuple[dict | None, pa.Table]:
    """FashionIQ metrics and rankings; per_category[cat] = (q_emb, g_emb, names, queries)."""
    rows: dict[str, list] = {"category": [], "index": [], "reference": [], "target": [],
                             "top50": []}
    metric_args = {}
    for cat, (q_emb, g_emb, names, queries) in per_category.items():
        s = scores(q_emb, g_emb)
        top = rank_gallery(s, names, k=TOP_K)
        targets = [q.target for q in queries]
        if all(t is not None for t in targets):
            metric_args[cat] = (s, names, targets)
        rows["category"] += [cat] * len(queries)
        rows["index"] += [q.index for q in queries]
        rows["reference"] += [q.reference for q in queries]
        rows["target"] += targets
        rows["top50"] += top
    metrics = fashioniq_metrics(metric_args) if len(metric_args) == len(per_category) else None
    table = pa.table({
        "category": pa.array(rows["category"], pa.string()),
        "index": pa.array(rows["index"], pa.int64()),
        "reference": pa.array(rows["reference"], pa.string()),
        "target": pa.array(rows["target"], pa.string()),
        "top50": pa.array(rows["top50"], pa.list_(pa.string())),
    })
    return metrics, table
