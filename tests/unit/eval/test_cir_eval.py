"""CIRR / FashionIQ scoring of `vdgray eval` on hand-built embeddings, against recalls by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vdgray.data.cirr import CirrQuery
from vdgray.data.fashioniq import FashionIQQuery
from vdgray.eval.cir_compare import compare
from vdgray.eval.cir_score import score_cirr, score_fashioniq

NAMES = ["A", "B", "C", "D", "E", "F", "G", "H"]
GALLERY = np.eye(8, dtype=np.float32)  # score(q, g) = q's entry for g


def _q(pairid, ref, target, members):
    return CirrQuery(pairid=pairid, reference=ref, caption="x", target=target,
                     target_soft={}, members=tuple(members), set_id=0)


QUERIES = [
    _q(1, "A", "B", ["A", "B", "C"]),
    _q(2, "B", "E", ["B", "D", "E"]),  # E is no query's reference
    _q(3, "C", "D", ["C", "D", "A"]),
]
#                 A    B     C    D    E    F    G     H
SCORES = np.array([[.9, .5, .7, .1, .0, .0, .0, .0],   # ref A removed: C B D ... -> B rank 1
                   [.2, .95, .1, .3, .8, .0, .0, .0],  # ref B removed: E first -> rank 0
                   [.6, .7, 1.0, .4, .5, .9, .85, .8]],  # ref C removed: F G H B A E D -> 6
                  dtype=np.float32)


def test_cirr_recalls_match_hand_computed_values():
    metrics, table = score_cirr(SCORES, GALLERY, NAMES, QUERIES)
    assert metrics["recall@1"] == pytest.approx(100 / 3)
    assert metrics["recall@5"] == pytest.approx(200 / 3)
    assert metrics["recall@10"] == pytest.approx(100.0)
    assert metrics["recall@50"] == pytest.approx(100.0)
    # subsets (members minus reference): q1 {B,C} -> C,B; q2 {D,E} -> E,D; q3 {D,A} -> A,D
    assert metrics["recall_subset@1"] == pytest.approx(100 / 3)
    assert metrics["recall_subset@2"] == pytest.approx(100.0)
    assert metrics["avg"] == pytest.approx((200 / 3 + 100 / 3) / 2)
    rows = table.to_pylist()
    assert [r["pairid"] for r in rows] == [1, 2, 3]
    assert rows[0]["top50"][:4] == ["C", "B", "D", "E"]
    assert rows[2]["top50"] == ["F", "G", "H", "B", "A", "E", "D"]
    assert all(r["reference"] not in r["top50"] for r in rows)  # the reference is removed
    assert [r["subset_top3"] for r in rows] == [["C", "B"], ["E", "D"], ["A", "D"]]


def test_cirr_without_targets_gives_rankings_only_and_truth_can_be_supplied():
    test_queries = [_q(q.pairid, q.reference, None, q.members) for q in QUERIES]
    metrics, table = score_cirr(SCORES, GALLERY, NAMES, test_queries)
    assert metrics is None and table.num_rows == 3
    metrics, _ = score_cirr(SCORES, GALLERY, NAMES, test_queries, targets=["B", "E", "D"])
    assert metrics["recall@1"] == pytest.approx(100 / 3)


def test_fashioniq_keeps_the_reference_and_averages_categories():
    names = ["a", "b", "c"]
    g = np.eye(3, dtype=np.float32)
    dress = [FashionIQQuery("dress", 0, "a", "b", ("x", "y"))]
    shirt = [FashionIQQuery("shirt", 0, "a", "c", ("x", "y")),
             FashionIQQuery("shirt", 1, "b", "a", ("x", "y"))]
    q_dress = np.array([[1.0, .5, .0]], np.float32)
    q_shirt = np.array([[.2, .1, .9], [.3, .9, .1]], np.float32)
    metrics, table = score_fashioniq({"dress": (q_dress, g, names, dress),
                                      "shirt": (q_shirt, g, names, shirt)})
    assert metrics["dress"]["recall@10"] == 100.0  # 3-image gallery: everything is in the top 10
    assert table.to_pylist()[0]["top50"] == ["a", "b", "c"]  # reference ranked, not removed
    assert [r["index"] for r in table.to_pylist()] == [0, 0, 1]
    assert metrics["average"]["recall@10"] == 100.0


def test_compare_writes_table_and_png(tmp_path):
    from vdgray import storage

    for label, r1 in (("supervised", 10.0), ("semi", 20.0)):
        storage.write_json(str(tmp_path / label / "metrics.json"),
                           {"metrics": {"recall@1": r1, "recall@5": 2 * r1}})
    out = compare([str(tmp_path / "supervised"), str(tmp_path / "semi")], out=str(tmp_path / "c"))
    assert out["table"]["semi"]["recall@1"] == 20.0
    assert out["keys"] == ["recall@1", "recall@5"]
    assert (tmp_path / "c" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
