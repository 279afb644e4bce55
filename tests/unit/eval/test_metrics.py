"""CIRR / FashionIQ metrics on hand-computed rankings, ties and chunked large matrices."""

from __future__ import annotations

import numpy as np
import pytest

from vdgray.errors import DataFormatError
from vdgray.eval import metrics
from vdgray.eval.metrics import (
    cirr_metrics,
    fashioniq_metrics,
    rank_gallery,
    rank_subsets,
    target_ranks,
)

G = [f"g{i}" for i in range(7)]
#                  g0    g1    g2   g3   g4   g5   g6
SCORES = np.array([[0.9, 0.1, 0.5, 0.3, 0.2, 0.0, 0.6],     # A: ref g0, target g6
                   [0.8, 0.95, 0.4, 0.7, 0.1, 0.2, 0.9],    # B: ref g1, target g2
                   [0.5, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5]])    # C: ref g3, target g5 (all tied)
REFS = ["g0", "g1", "g3"]
TARGETS = ["g6", "g2", "g5"]  # g6 and g5 are no query's reference
MEMBERS = [["g0", "g1", "g2", "g3", "g4", "g6"],
           ["g1", "g2", "g3", "g4", "g5", "g0"],
           ["g3", "g4", "g5", "g0", "g1", "g2"]]


def test_rankings_by_hand():
    top = rank_gallery(SCORES, G, exclude=REFS, k=4)
    assert top == [["g6", "g2", "g3", "g4"],
                   ["g6", "g0", "g3", "g2"],
                   ["g0", "g1", "g2", "g4"]]  # ties: lower gallery index first
    assert rank_gallery(SCORES, G, k=2)[0] == ["g0", "g6"]  # no exclusion: reference first
    assert rank_subsets(SCORES, G, MEMBERS, exclude=REFS) == [["g6", "g2", "g3"],
                                                             ["g0", "g3", "g2"],
                                                             ["g0", "g1", "g2"]]


def test_target_ranks_reference_removal():
    assert target_ranks(SCORES, G, TARGETS, exclude=REFS).tolist() == [0, 3, 4]
    assert target_ranks(SCORES, G, TARGETS).tolist() == [1, 4, 5]


def test_excluded_target_is_never_retrieved():
    assert target_ranks(SCORES[:1], G, ["g0"], exclude=["g0"]).tolist() == [-1]
    assert metrics.recall_at(np.array([-1, 0]), [1, 50]) == {1: 50.0, 50: 50.0}


def test_cirr_metrics_by_hand():
    m = cirr_metrics(SCORES, G, REFS, TARGETS, MEMBERS)
    assert m["recall@1"] == pytest.approx(100 / 3)
    assert m["recall@5"] == m["recall@10"] == m["recall@50"] == 100.0
    assert m["recall_subset@1"] == pytest.approx(100 / 3)
    assert m["recall_subset@2"] == pytest.approx(100 / 3)
    assert m["recall_subset@3"] == pytest.approx(200 / 3)
    assert m["avg"] == pytest.approx((100 + 100 / 3) / 2)


def test_cirr_gallery_is_whole_split_not_references():
    # ranking only over reference images (the published bug) cannot even see target g6
    with pytest.raises(DataFormatError, match="target 'g6' is not in the gallery"):
        cirr_metrics(SCORES[:, [0, 1, 3]], ["g0", "g1", "g3"], REFS, TARGETS, MEMBERS)


def test_fashioniq_reference_not_removed():
    names = [f"i{j}" for j in range(60)]
    desc = -np.arange(60, dtype=np.float32)  # i0 best ... i59 worst
    dress = (np.stack([desc, desc]), names, ["i10", "i0"])  # i10 at rank 10: miss @10
    shirt = (desc[None], names, ["i55"])
    toptee = (desc[None], names, ["i49"])
    m = fashioniq_metrics({"dress": dress, "shirt": shirt, "toptee": toptee})
    assert m["dress"] == {"recall@10": 50.0, "recall@50": 100.0}
    assert m["shirt"] == {"recall@10": 0.0, "recall@50": 0.0}
    assert m["toptee"] == {"recall@10": 0.0, "recall@50": 100.0}
    assert m["average"]["recall@10"] == pytest.approx(50 / 3)
    assert m["average"]["recall@50"] == pytest.approx(200 / 3)
    assert m["average"]["avg"] == pytest.approx((50 / 3 + 200 / 3) / 2)


def _brute_order(row, excluded):
    return [j for j in sorted(range(len(row)), key=lambda j: (-row[j], j)) if j not in excluded]


@pytest.mark.parametrize("k", [1, 5, 37, 200])
def test_chunked_topk_matches_stable_sort_with_many_ties(monkeypatch, k):
    rng = np.random.default_rng(k)
    q, g = 23, 40
    scores = rng.integers(0, 4, size=(q, g)).astype(np.float32)  # heavy ties
    names = [f"n{j}" for j in range(g)]
    excl = [None if i % 3 == 0 else [names[i], names[(i * 7) % g]] for i in range(q)]
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 3 * g + 5)  # several chunks
    top = rank_gallery(scores, names, exclude=excl, k=k)
    targets = [names[(i * 5) % g] for i in range(q)]
    ranks = target_ranks(scores, names, targets, exclude=excl)
    for i in range(q):
        banned = set() if excl[i] is None else {names.index(n) for n in excl[i]}
        order = _brute_order(scores[i], banned)
        assert top[i] == [names[j] for j in order[:k]]
        t = names.index(targets[i])
        assert ranks[i] == (order.index(t) if t in order else -1)


def test_input_errors():
    with pytest.raises(ValueError, match="scores must be"):
        rank_gallery(SCORES[:, :3], G)
    with pytest.raises(DataFormatError, match="'g1' appears more than once"):
        rank_gallery(SCORES, ["g0", "g1", "g1", "g3", "g4", "g5", "g6"])
    bad = SCORES.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="row 1 contains NaN"):
        target_ranks(bad, G, TARGETS)
    with pytest.raises(DataFormatError, match="query 0: excluded image 'zz'"):
        rank_gallery(SCORES, G, exclude=["zz", None, None])
    with pytest.raises(DataFormatError, match="query 1: img_set member 'zz'"):
        rank_subsets(SCORES, G, [["g0"], ["zz"], ["g1"]])
