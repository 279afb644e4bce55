"""Retrieval metrics for the CIRR and FashionIQ protocols, on score matrices [Q, G].

CIRR: Recall@{1,5,10,50} over the WHOLE split gallery (some published code ranks only
images that are some query's reference, which silently drops targets and inflates recall),
with each query's reference removed from its ranking; Recall_subset@{1,2,3} among the
query's img_set members minus the reference. FashionIQ: Recall@{10,50} per category over
the category gallery, reference NOT removed, and their means. Values are in percent, like
the official evaluation.

Ties: a higher score ranks first; equal scores are ordered by gallery index (a stable
sort), so results never depend on the platform's sort. Big matrices are processed in query
chunks (about 16M scores at a time); metrics need only each target's rank (a count of the
items ranked before it), and rankings use np.argpartition, so no full argsort is allocated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from vdgray.errors import DataFormatError

CIRR_KS = (1, 5, 10, 50)
CIRR_SUBSET_KS = (1, 2, 3)
FASHIONIQ_KS = (10, 50)
CHUNK_ELEMENTS = 1 << 24

Exclude = Sequence[str | Iterable[str] | None] | None


def _index(gallery_names: Sequence[str]) -> dict[str, int]:
    idx = {n: i for i, n in enumerate(gallery_names)}
    if len(idx) != len(gallery_names):
        dup = next(n for i, n in enumerate(gallery_names) if idx[n] != i)
        raise DataFormatError(f"gallery names must be unique; {dup!r} appears more than once")
    return idx


def _check_scores(scores, gallery_names: Sequence[str], n_queries: int | None = None):
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] != len(gallery_names):
        raise ValueError(f"scores must be [queries, {len(gallery_names)} gallery], "
                         f"got shape {scores.shape}")
    if n_queries is not None and scores.shape[0] != n_queries:
        raise ValueError(f"scores has {scores.shape[0]} rows but {n_queries} queries were given")
    return scores


def _exclusions(exclude: Exclude, n: int, idx: dict[str, int]) -> list[list[int]]:
    if exclude is None:
        return [[] for _ in range(n)]
    if len(exclude) != n:
        raise ValueError(f"exclude has {len(exclude)} entries for {n} queries")
    out = []
    for q, ex in enumerate(exclude):
        names = [] if ex is None else [ex] if isinstance(ex, str) else list(ex)
        try:
            out.append(sorted({idx[x] for x in names}))
        except KeyError as e:
            raise DataFormatError(f"query {q}: excluded image {e.args[0]!r} is not in the "
                                  "gallery") from None
    return out


def _chunks(n_rows: int, n_cols: int):
    step = max(1, CHUNK_ELEMENTS // max(1, n_cols))
    for lo in range(0, n_rows, step):
        yield lo, min(n_rows, lo + step)


def _block(scores: np.ndarray, lo: int, hi: int) -> np.ndarray:
    block = np.array(scores[lo:hi], dtype=np.result_type(scores.dtype, np.float32))
    if np.isnan(block).any():
        bad = lo + int(np.flatnonzero(np.isnan(block).any(axis=1))[0])
        raise ValueError(f"scores row {bad} contains NaN")
    return block


def _precedes(block_row: np.ndarray, a: int, b: int) -> bool:
    """Does gallery item a rank before item b (higher score, ties by lower index)?"""
    return block_row[a] > block_row[b] or (block_row[a] == block_row[b] and a < b)


def target_ranks(scores, gallery_names: Sequence[str], targets: Sequence[str],
                 exclude: Exclude = None) -> np.ndarray:
    """0-based rank of each query's target in its ranking of the gallery minus `exclude`.

    A target that is itself excluded gets rank -1 (it can never be retrieved).
    """
    idx = _index(gallery_names)
    scores = _check_scores(scores, gallery_names, len(targets))
    try:
        tidx = np.array([idx[t] for t in targets], dtype=np.int64)
    except KeyError as e:
        raise DataFormatError(f"target {e.args[0]!r} is not in the gallery") from None
    excl = _exclusions(exclude, len(targets), idx)
    ranks = np.empty(len(targets), dtype=np.int64)
    cols = np.arange(scores.shape[1])
    for lo, hi in _chunks(*scores.shape):
        block = _block(scores, lo, hi)
        t = tidx[lo:hi]
        ts = block[np.arange(hi - lo), t][:, None]
        before = (block > ts) | ((block == ts) & (cols[None, :] < t[:, None]))
        ranks[lo:hi] = before.sum(axis=1)
        for r in range(hi - lo):
            q = lo + r
            for e in excl[q]:
                if e == tidx[q]:
                    ranks[q] = -1
                    break
                if _precedes(block[r], e, tidx[q]):
                    ranks[q] -= 1
    return ranks


def _topk_sorted(block: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best per row (score desc, ties by index asc), deterministic."""
    g = block.shape[1]
    if k >= g:
        return np.argsort(-block, axis=1, kind="stable")
    part = np.argpartition(-block, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(block, part, axis=1)
    kth = vals.min(axis=1)
    n_ge = (block >= kth[:, None]).sum(axis=1)
    out = np.empty((block.shape[0], k), dtype=np.int64)
    order = np.lexsort((part, -vals), axis=1)
    out[:] = np.take_along_axis(part, order, axis=1)
    for r in np.flatnonzero(n_ge > k):  # ties straddle the cut: take the lowest indices
        cand = np.flatnonzero(block[r] >= kth[r])
        out[r] = cand[np.lexsort((cand, -block[r, cand]))][:k]
    return out


def rank_gallery(scores, gallery_names: Sequence[str], exclude: Exclude = None,
                 k: int = 50) -> list[list[str]]:
    """Top-k gallery names per query, best first, with each query's `exclude` names removed.

    `exclude[q]` is a name, an iterable of names or None. Fewer than k names come back only
    when the gallery minus the exclusions is smaller than k.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    idx = _index(gallery_names)
    scores = _check_scores(scores, gallery_names)
    excl = _exclusions(exclude, scores.shape[0], idx)
    names = list(gallery_names)
    out: list[list[str]] = []
    for lo, hi in _chunks(*scores.shape):
        block = _block(scores, lo, hi)
        extra = max((len(excl[q]) for q in range(lo, hi)), default=0)
        for r in range(hi - lo):
            block[r, excl[lo + r]] = -np.inf
        top = _topk_sorted(block, min(k + extra, block.shape[1]))
        for r in range(hi - lo):
            banned = set(excl[lo + r])
            out.append([names[j] for j in top[r] if j not in banned][:k])
    return out


def rank_subsets(scores, gallery_names: Sequence[str], members: Sequence[Sequence[str]],
                 exclude: Exclude = None, k: int = 3) -> list[list[str]]:
    """Per query, the top-k of its `members` (minus `exclude`), ranked by the same scores."""
    idx = _index(gallery_names)
    scores = _check_scores(scores, gallery_names, len(members))
    excl = _exclusions(exclude, len(members), idx)
    out = []
    for q, mem in enumerate(members):
        try:
            cand = [idx[m] for m in dict.fromkeys(mem)]
        except KeyError as e:
            raise DataFormatError(f"query {q}: img_set member {e.args[0]!r} is not in the "
                                  "gallery") from None
        banned = set(excl[q])
        cand = np.array([c for c in cand if c not in banned], dtype=np.int64)
        row = np.asarray(scores[q], dtype=np.float64)[cand]
        out.append([gallery_names[c] for c in cand[np.lexsort((cand, -row))][:k]])
    return out


def recall_at(ranks: np.ndarray, ks: Iterable[int]) -> dict[int, float]:
    """Percent of queries whose target rank (0-based, -1 = never retrieved) is below k."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no queries to evaluate")
    hit = ranks >= 0
    return {k: float(100.0 * np.mean(hit & (ranks < k))) for k in ks}


def cirr_metrics(scores, gallery_names: Sequence[str], references: Sequence[str],
                 targets: Sequence[str], members: Sequence[Sequence[str]]) -> dict[str, float]:
    """CIRR Recall@{1,5,10,50}, Recall_subset@{1,2,3} and avg = (R@5 + Rsubset@1) / 2.

    `scores[q, g]` is query q's score for gallery image g; the gallery is the whole split.
    A target outside the query's members (never the case in CIRR) is a subset miss.
    """
    n = len(references)
    if not (len(targets) == n == len(members)):
        raise ValueError("references, targets and members must have one entry per query")
    ranks = target_ranks(scores, gallery_names, targets, exclude=references)
    subsets = rank_subsets(scores, gallery_names, members, exclude=references,
                           k=max(CIRR_SUBSET_KS))
    sub_ranks = np.array([s.index(t) if t in s else -1 for s, t in zip(subsets, targets,
                                                                        strict=True)])
    # a target missing from its top-3 subset list gets -1: a miss at every subset k
    out = {f"recall@{k}": v for k, v in recall_at(ranks, CIRR_KS).items()}
    out.update({f"recall_subset@{k}": v for k, v in recall_at(sub_ranks, CIRR_SUBSET_KS).items()})
    out["avg"] = (out["recall@5"] + out["recall_subset@1"]) / 2
    return out


def fashioniq_category_metrics(scores, gallery_names: Sequence[str],
                               targets: Sequence[str]) -> dict[str, float]:
    """FashionIQ Recall@10 and @50 for one category; the reference is NOT removed."""
    ranks = target_ranks(scores, gallery_names, targets)
    return {f"recall@{k}": v for k, v in recall_at(ranks, FASHIONIQ_KS).items()}


def fashioniq_metrics(per_category: Mapping[str, tuple]) -> dict[str, dict[str, float]]:
    """Per-category R@10/R@50 and their means.

    `per_category[cat] = (scores, gallery_names, targets)`. The "average" entry holds the
    mean R@10, mean R@50 and "avg", the mean of those two (the usual headline number).
    """
    if not per_category:
        raise ValueError("no FashionIQ categories to evaluate")
    out = {cat: fashioniq_category_metrics(*args) for cat, args in per_category.items()}
    avg = {f"recall@{k}": float(np.mean([out[c][f"recall@{k}"] for c in per_category]))
           for k in FASHIONIQ_KS}
    avg["avg"] = float(np.mean(list(avg.values())))
    out["average"] = avg
    return out
