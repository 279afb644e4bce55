"""The triplets contract (DESIGN.md) shared by human loaders, generation and train-cir.

One place defines the deterministic `triplet_id` and builds tables in the Arrow schema
(TRIPLETS_SCHEMA, written in vdgray/layout.py) so human triplets (CIRR, FashionIQ, synthetic)
and pseudo triplets from the VDG concatenate without casts and re-running a stage reproduces
the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa

from vdgray.layout import SCORE_FIELD, TRIPLET_ID, TRIPLETS_SCHEMA

HUMAN = "human"
PSEUDO = "pseudo"


def triplets_schema(with_score: bool = False) -> pa.Schema:
    """The triplets schema, with the optional `score` column appended when asked."""
    return TRIPLETS_SCHEMA.append(SCORE_FIELD) if with_score else TRIPLETS_SCHEMA


def triplet_id(reference_id: str, target_id: str, generator: str) -> str:
    """Deterministic id: the first 16 hex digits of sha1(reference, target, generator).

    Fields are joined with the unit separator (\\x1f) so ("a b", "c") and ("a", "b c") differ.
    """
    key = "\x1f".join((str(reference_id), str(target_id), str(generator)))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def make_triplets(
    reference_ids: Sequence[str],
    target_ids: Sequence[str],
    texts: Sequence[str],
    source: str,
    generator: str,
    scores: Sequence[float] | None = None,
) -> pa.Table:
    """Build a triplets table in the contract's schema (ids computed, source/generator repeated)."""
    n = len(reference_ids)
    if len(target_ids) != n or len(texts) != n or (scores is not None and len(scores) != n):
        raise ValueError("reference_ids, target_ids, texts (and scores) must have the same length")
    if source not in (HUMAN, PSEUDO):
        raise ValueError(f"source must be {HUMAN!r} or {PSEUDO!r}, got {source!r}")
    cols = {
        TRIPLET_ID: [triplet_id(r, t, generator) for r, t in zip(reference_ids, target_ids, strict=True)],
        "reference_id": list(reference_ids),
        "target_id": list(target_ids),
        "text": list(texts),
        "source": [source] * n,
        "generator": [generator] * n,
    }
    if scores is not None:
        cols["score"] = list(scores)
    return pa.table(cols, schema=triplets_schema(scores is not None))
