"""The CIRR mining rules, checked on random embeddings and on a hand-built case."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vdgray.index.groups import drop_self, form_groups, group_pairs, pair_similarity
from vdgray.stages.mine import pair_ids


def unit_vectors(rng, n, d, clusters):
    centres = rng.standard_normal((clusters, d))
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, d))
    # a few exact and near duplicates so the max_similarity rule has work to do
    m = min(3, n // 2)
    x[n - m :] = x[:m] + 1e-3 * rng.standard_normal((m, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_neighbours(x, k):
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, ids = index.search(x, min(k + 1, len(x)))
    return drop_self(sims, ids, min(k, len(x) - 1))


def reference_groups(sims, ids, order, group_size, max_sim, min_gap, full):
    """A plain restatement of the procedure, independent of form_groups' pre-filtering."""
    used: set[int] = set()
    groups = []
    for a in order:
        if a in used:
            continue
        group, prev = [a], None
        for j, s in zip(ids[a], sims[a], strict=True):
            if j < 0 or j == a or s > max_sim or j in used:
                continue
            if prev is not None and abs(prev - s) < min_gap:
                continue
            group.append(int(j))
            prev = float(s)
            if len(group) == group_size:
                break
        if len(group) == group_size or (not full and len(group) >= 2):
            used.update(group)
            groups.append(group)
    return groups


def as_lists(members, offsets):
    return [members[offsets[g] : offsets[g + 1]].tolist() for g in range(len(offsets) - 1)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 120),
    d=st.integers(2, 12),
    clusters=st.integers(1, 8),
    group_size=st.integers(2, 7),
    extra_k=st.integers(0, 15),
    max_sim=st.floats(0.25, 1.0, width=32),  # similarities are float32: so are thresholds
    min_gap=st.sampled_from([0.0, 0.002, 0.01, 0.05]),
    full=st.booleans(),
)
def test_groups_respect_every_mining_rule(seed, n, d, clusters, group_size, extra_k, max_sim,
                                          min_gap, full):
    rng = np.random.default_rng(seed)
    x = unit_vectors(rng, n, d, clusters)
    top_k = group_size - 1 + extra_k
    sims, ids = exact_neighbours(x, top_k)
    order = rng.permutation(n)
    kwargs = dict(group_size=group_size, max_similarity=max_sim, min_gap=min_gap,
                  require_full_group=full, order=order)
    members, offsets = form_groups(sims, ids, **kwargs)
    groups = as_lists(members, offsets)

    # the greedy procedure exactly (same groups, same order, same member order)
    assert groups == reference_groups(sims, ids, order.tolist(), group_size, max_sim, min_gap, full)

    # no image in two groups; sizes within bounds
    flat = [m for g in groups for m in g]
    assert len(flat) == len(set(flat))
    for g in groups:
        assert 2 <= len(g) <= group_size
        if full:
            assert len(g) == group_size
        anchor, rest = g[0], g[1:]
        row = dict(zip(ids[anchor].tolist(), sims[anchor].tolist(), strict=True))
        added = []
        for m in rest:
            assert m != anchor and m in row  # among the anchor's top_k neighbours
            assert row[m] <= max_sim  # no near duplicate of the anchor
            added.append(row[m])
        assert added == sorted(added, reverse=True)  # added by decreasing similarity
        assert all(a - b >= min_gap for a, b in zip(added, added[1:], strict=False))

    # pairs: exactly all ordered pairs inside each group, tagged with the group
    ref, tgt, gid = group_pairs(members, offsets)
    expected = {(a, b, gi) for gi, g in enumerate(groups) for a in g for b in g if a != b}
    got = list(zip(ref.tolist(), tgt.tolist(), gid.tolist(), strict=True))
    assert len(got) == len(expected) == sum(len(g) * (len(g) - 1) for g in groups)
    assert set(got) == expected
    assert gid.tolist() == sorted(gid.tolist())

    sim = pair_similarity(x, ref, tgt)
    np.testing.assert_allclose(sim, np.sum(x[ref] * x[tgt], axis=1), rtol=1e-5, atol=1e-6)

    names = np.array([f"img-{i}" for i in range(n)])
    pids = pair_ids(names[ref].tolist(), names[tgt].tolist())
    assert len(set(pids)) == len(pids)

    # deterministic
    m2, o2 = form_groups(sims, ids, **kwargs)
    assert np.array_equal(m2, members) and np.array_equal(o2, offsets)


def test_hand_built_case():
    # 8 images; neighbour lists written by hand (already sorted by decreasing similarity)
    ids = np.array([
        [1, 2, 3, 4],   # 0: 1 is a near duplicate (0.97), 3 is within min_gap of 2
        [0, 2, 3, 4],
        [5, 0, 6, 7],
        [0, 2, 1, 4],
        [2, 0, 3, 1],
        [6, 7, 2, 0],   # 5: 2 already used by group 0 -> 5, 6, 7
        [5, 7, 0, 1],
        [5, 6, 0, 1],
    ])
    sims = np.array([
        [0.97, 0.90, 0.8995, 0.80],
        [0.97, 0.85, 0.84, 0.70],
        [0.93, 0.90, 0.70, 0.60],
        [0.8995, 0.86, 0.84, 0.80],
        [0.81, 0.80, 0.79, 0.70],
        [0.92, 0.91, 0.88, 0.60],
        [0.92, 0.91, 0.70, 0.60],
        [0.91, 0.91, 0.70, 0.60],
    ], dtype=np.float32)
    members, offsets = form_groups(sims, ids, group_size=3, max_similarity=0.94, min_gap=0.002)
    assert as_lists(members, offsets) == [[0, 2, 4], [5, 6, 7]]
    # 1 and 3 stay ungrouped: 1's only free neighbour is 3 -> group of 2 is dropped
    members, offsets = form_groups(sims, ids, group_size=3, max_similarity=0.94, min_gap=0.002,
                                   require_full_group=False)
    assert as_lists(members, offsets) == [[0, 2, 4], [1, 3], [5, 6, 7]]


def test_min_gap_compares_with_previously_added_not_skipped():
    ids = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    # from 0: add 1 (0.90); 2 (0.899) within gap of 0.90 -> skip; 3 (0.8985) is 0.0015 from the
    # skipped 2 but 0.0015 < 0.002 from 1 too -> skipped; nothing else -> group [0, 1]
    sims = np.array([[0.90, 0.899, 0.8985]] * 4, dtype=np.float32)
    members, offsets = form_groups(sims, ids, group_size=3, max_similarity=1.0, min_gap=0.002,
                                   require_full_group=False)
    assert as_lists(members, offsets) == [[0, 1], [2, 3]]
    sims[0, 2] = 0.897  # now 0.003 below the added 0.90 -> accepted
    members, offsets = form_groups(sims, ids, group_size=3, max_similarity=1.0, min_gap=0.002)
    assert as_lists(members, offsets)[0] == [0, 1, 3]


def test_drop_self_removes_own_id_or_last_column():
    ids = np.array([[0, 5, 6], [5, 6, 7], [3, 2, 9]])
    sims = np.array([[1.0, 0.5, 0.4], [0.9, 0.8, 0.7], [0.99, 0.98, 0.5]], dtype=np.float32)
    s, i = drop_self(sims, ids, 2)
    assert i.tolist() == [[5, 6], [5, 6], [3, 9]]
    np.testing.assert_allclose(s, [[0.5, 0.4], [0.9, 0.8], [0.99, 0.5]])


def test_missing_neighbours_are_ignored():
    ids = np.array([[1, -1, -1], [0, -1, -1]])
    sims = np.array([[0.5, -np.inf, -np.inf]] * 2, dtype=np.float32)
    members, offsets = form_groups(sims, ids, group_size=2, max_similarity=0.94, min_gap=0.002)
    assert as_lists(members, offsets) == [[0, 1]]


def test_pair_ids_are_directional_and_stable():
    a = pair_ids(["x", "y"], ["y", "x"])
    assert a[0] != a[1]
    assert a == pair_ids(["x", "y"], ["y", "x"])
    assert all(len(p) == 16 for p in a)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError):
        form_groups(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.int64))


def test_drop_self_with_query_ids_of_a_subset():
    ids = np.array([[7, 1, 2], [3, 9, 4]])
    sims = np.array([[1.0, 0.5, 0.4], [0.9, 0.8, 0.7]], dtype=np.float32)
    _, i = drop_self(sims, ids, 2, query_ids=np.array([7, 9]))
    assert i.tolist() == [[1, 2], [3, 4]]
