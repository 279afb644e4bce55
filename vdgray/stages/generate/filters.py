"""Optional quality filters of pseudo triplets (beyond the paper), and the final row shape.

`DeltaFilter` is the last map step before the sink: it drops empty deltas, degenerate ones
(too few words, one word repeated, too few distinct words), duplicates (the same delta for
the same reference within a batch — mine writes a subgroup's pairs consecutively, so a
reference's targets arrive together — and a repeated triplet id), and, when a retriever
rank function is given, triplets whose target the retriever does not rank in its top-k for
(reference, delta). Every removal is written as a side record (triplet_id, reason) so the
stage can count what each filter removed; the kept rows leave in the triplets contract.

The retriever is either a trained CIR model + its `vdgray index` output
(`filters.retriever_model` / `retriever_index`, see `rank.CirRank`) or a plug-in:
`filters.retriever: "package.module:factory"`, where `factory(gallery_uri)` returns
`rank(reference_images, texts, target_ids) -> ranks` (0 = the target is the retriever's first
answer over the gallery).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import pyarrow as pa

from vdgray.data.triplets import PSEUDO
from vdgray.errors import ConfigError
from vdgray.layout import TRIPLET_ID, TRIPLETS_SCHEMA
from vdgray.stages.generate.join import write_side_records

RankFn = Callable[[Sequence[bytes], Sequence[str], Sequence[str]], Sequence[int]]
REMOVAL_SCHEMA = pa.schema([(TRIPLET_ID, pa.string()), ("reason", pa.string())])
REASONS = ("empty", "degenerate", "duplicate", "retriever")


def degenerate_reason(text: str, min_words: int, min_distinct_ratio: float) -> str | None:
    """'empty' or 'degenerate' when a delta is unusable, else None."""
    words = text.split()
    if not words:
        return "empty"
    if len(words) < min_words:
        return "degenerate"
    distinct = len({w.lower() for w in words})
    if len(words) > 1 and distinct == 1:
        return "degenerate"
    if distinct / len(words) < min_distinct_ratio:
        return "degenerate"
    return None


def load_rank_fn(spec: str, gallery_uri: str) -> RankFn:
    """Import `module:factory` and call it with the gallery URI."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(f"filters.retriever: {spec!r} is not 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"filters.retriever: cannot import {spec!r} ({e})") from None
    return factory(gallery_uri)


class DeltaFilter:
    """map_batches callable (pyarrow batches): generated rows -> kept rows as triplets.

    `enabled=False` keeps everything except empty deltas (an empty text is never a triplet).
    """

    def __init__(self, generator: str, *, enabled: bool = True, min_words: int = 2,
                 min_distinct_ratio: float = 0.5, dedupe: bool = True,
                 rank_fn: RankFn | None = None, retriever: str | None = None,
                 gallery_uri: str | None = None, top_k: int = 10,
                 removals_uri: str | None = None, retriever_model: str | None = None,
                 retriever_index: str | None = None):
        from vdgray import storage

        self.generator = generator
        self.enabled, self.min_words, self.ratio = enabled, min_words, min_distinct_ratio
        self.dedupe, self.top_k = dedupe, top_k
        if rank_fn is None and retriever is not None:
            rank_fn = load_rank_fn(retriever, gallery_uri)
        if rank_fn is None and retriever_model is not None:
            from vdgray.stages.generate.rank import CirRank

            rank_fn = CirRank(retriever_model, retriever_index, top_k)
        self.rank_fn = rank_fn
        self.removals_uri = removals_uri
        self._fs = storage.filesystem(removals_uri) if removals_uri else None
        self.removed: list[dict] = []

    def reasons(self, ids: list[str], refs: list[str], texts: list[str]) -> list[str | None]:
        """Per row: None to keep, else the first filter that removes it."""
        out: list[str | None] = []
        seen_ids: set[str] = set()
        seen_text: set[tuple[str, str]] = set()
        for tid, ref, text in zip(ids, refs, texts, strict=True):
            reason = ("empty" if not text.strip() else None) if not self.enabled else \
                degenerate_reason(text, self.min_words, self.ratio)
            if reason is None and self.enabled and self.dedupe:
                key = (ref, " ".join(text.lower().split()))
                if tid in seen_ids or key in seen_text:
                    reason = "duplicate"
                seen_ids.add(tid)
                seen_text.add(key)
            out.append(reason)
        return out

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids = [str(x) for x in batch.column(TRIPLET_ID).to_pylist()]
        refs = [str(x) for x in batch.column("reference_id").to_pylist()]
        texts = ["" if x is None else str(x).strip() for x in batch.column("text").to_pylist()]
        reasons = self.reasons(ids, refs, texts)
        if self.enabled and self.rank_fn is not None:
            todo = [i for i, r in enumerate(reasons) if r is None]
            if todo and "reference_image" not in batch.column_names:
                raise ConfigError("filters.retriever: the rows reaching the filter carry no "
                                  "reference_image")
            if todo:
                images = batch.column("reference_image").to_pylist()
                tgts = batch.column("target_id").to_pylist()
                extra = ({"reference_ids": [refs[i] for i in todo]}
                         if getattr(self.rank_fn, "takes_reference_ids", False) else {})
                ranks = self.rank_fn([images[i] for i in todo], [texts[i] for i in todo],
                                     [tgts[i] for i in todo], **extra)
                for i, rank in zip(todo, ranks, strict=True):
                    if int(rank) >= self.top_k:
                        reasons[i] = "retriever"
        removed = [{TRIPLET_ID: ids[i], "reason": r} for i, r in enumerate(reasons) if r]
        if removed:
            self.removed.extend(removed)
            if self._fs is not None:
                write_side_records(self._fs, self.removals_uri, removed, REMOVAL_SCHEMA)
        keep = [i for i, r in enumerate(reasons) if r is None]
        return pa.table({
            TRIPLET_ID: pa.array([ids[i] for i in keep], pa.string()),
            "reference_id": pa.array([refs[i] for i in keep], pa.string()),
            "target_id": pa.array([str(batch.column("target_id")[i].as_py()) for i in keep],
                                  pa.string()),
            "text": pa.array([texts[i] for i in keep], pa.string()),
            "source": pa.array([PSEUDO] * len(keep), pa.string()),
            "generator": pa.array([self.generator] * len(keep), pa.string()),
        }, schema=TRIPLETS_SCHEMA)
