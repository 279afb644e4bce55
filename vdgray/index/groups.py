"""CIRR-style subgroups from neighbour lists, and the ordered pairs inside them.

This is the pure core of the mine stage (no I/O, no Ray) so the mining rules can be checked
by property tests. The procedure (Suhr et al.'s CIRR, as the VDG paper uses it):

* Anchors are visited in the order given (the mine stage passes images sorted by image_id,
  so the result does not depend on how the input was sharded).
* An anchor already in an accepted subgroup is skipped. Otherwise its neighbours are walked
  by decreasing similarity to the anchor (itself and missing neighbours excluded); a neighbour
  is skipped if its similarity exceeds `max_similarity` (near duplicate), if it is already in
  an accepted subgroup, or if its similarity is within `min_gap` of the similarity of the
  previously added neighbour (the first neighbour has no predecessor to compare with). The
  walk stops when the subgroup holds `group_size` images, anchor included.
* With `require_full_group` (the default, as in CIRR's sets of 6) a subgroup that ends smaller
  is dropped and its images stay available; otherwise any subgroup of >= 2 images is kept.
  Images of an accepted subgroup are never used again.
* Pairs are all ordered pairs (a, b), a != b, inside each subgroup.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_CHUNK = 32_768


def drop_self(sims: np.ndarray, ids: np.ndarray, k: int,
              query_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own id from (n, k+1) search results and keep the first `k` others.

    Query row i is database row `query_ids[i]` (default i); where it was not returned (exact
    duplicates, approximate search) the last column is dropped instead.
    """
    own_ids = np.arange(ids.shape[0]) if query_ids is None else np.asarray(query_ids)
    own = ids == own_ids[:, None]
    keep = np.argsort(own, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, keep, axis=1), np.take_along_axis(ids, keep, axis=1)


def form_groups(
    sims: np.ndarray,
    ids: np.ndarray,
    *,
    group_size: int = 6,
    max_similarity: float = 0.94,
    min_gap: float = 0.002,
    require_full_group: bool = True,
    order: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy disjoint subgroups; returns (members, offsets) in CSR form.

    `sims`/`ids` are (n, k) neighbour lists of rows 0..n-1 sorted by decreasing similarity
    (id -1 = no neighbour). Group g is `members[offsets[g]:offsets[g + 1]]`: the anchor first,
    then the neighbours in the order they were added. `order` is the anchor visiting order
    (default 0..n-1). `progress(n_anchors)` is called after each chunk of anchors.
    """
    n = ids.shape[0]
    if sims.shape != ids.shape:
        raise ValueError(f"sims {sims.shape} and ids {ids.shape} differ in shape")
    if group_size < 2:
        raise ValueError("group_size must be >= 2")
    order = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
    min_size = group_size if require_full_group else 2
    used = bytearray(n)
    members: list[int] = []
    offsets: list[int] = [0]
    # Vectorised pre-filter: drop self, missing and near-duplicate neighbours once.
    for start in range(0, len(order), _CHUNK):
        anchors = order[start : start + _CHUNK]
        c_ids = ids[anchors]
        c_sims = sims[anchors]
        # float64 threshold: a Python float against float32 sims compares in float32 (NEP 50),
        # which would round e.g. 0.9999999999999999 up to 1.0 and keep exact duplicates.
        ok = (c_ids >= 0) & (c_ids != anchors[:, None]) & (c_sims <= np.float64(max_similarity))
        ids_rows = np.where(ok, c_ids, -1).tolist()
        sims_rows = c_sims.tolist()
        for a, row_ids, row_sims in zip(anchors.tolist(), ids_rows, sims_rows, strict=True):
            if used[a]:
                continue
            group = [a]
            prev = None
            for j, s in zip(row_ids, row_sims, strict=True):
                if j < 0 or used[j]:
                    continue
                if prev is not None and abs(prev - s) < min_gap:
                    continue
                group.append(j)
                prev = s
                if len(group) == group_size:
                    break
            if len(group) >= min_size:
                for m in group:
                    used[m] = 1
                members.extend(group)
                offsets.append(len(members))
        if progress is not None:
            progress(len(anchors))
    return np.asarray(members, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


def group_pairs(members: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs inside each group: (reference rows, target rows, group ids).

    Pairs are ordered by group, then by the reference's and the target's position in the group.
    """
    sizes = np.diff(offsets)
    refs, tgts, gids = [], [], []
    for s in np.unique(sizes):
        s = int(s)
        g = np.nonzero(sizes == s)[0]
        mat = members[offsets[g][:, None] + np.arange(s)[None, :]]  # (groups, s)
        p, q = np.nonzero(~np.eye(s, dtype=bool))
        refs.append(mat[:, p].reshape(-1))
        tgts.append(mat[:, q].reshape(-1))
        gids.append(np.repeat(g, s * (s - 1)))
    if not refs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    ref, tgt, gid = np.concatenate(refs), np.concatenate(tgts), np.concatenate(gids)
    if len(refs) > 1:
        keep = np.argsort(gid, kind="stable")
        ref, tgt, gid = ref[keep], tgt[keep], gid[keep]
    return ref, tgt, gid.astype(np.int64)


def pair_similarity(vectors: np.ndarray, ref: np.ndarray, tgt: np.ndarray,
                    chunk: int = 262_144) -> np.ndarray:
    """Inner product (cosine for unit vectors) of each (ref, tgt) row pair, float32."""
    out = np.empty(len(ref), dtype=np.float32)
    for start in range(0, len(ref), chunk):
        a = vectors[ref[start : start + chunk]]
        b = vectors[tgt[start : start + chunk]]
        out[start : start + chunk] = np.einsum("ij,ij->i", a, b)
    return out
