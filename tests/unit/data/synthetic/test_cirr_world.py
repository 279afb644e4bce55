"""The synthetic world's CIRR output is read by the CIRR loader exactly like official data."""

from __future__ import annotations

import numpy as np

from vdgray.data.cirr import load_cirr
from vdgray.data.synthetic.cirr_writer import write_cirr
from vdgray.data.synthetic.world import plan_split
from vdgray.eval.metrics import cirr_metrics


def test_world_splits_load_and_evaluate(tmp_path):
    plans = [plan_split(s, n, 0) for s, n in (("train", 8), ("val", 8), ("test1", 4))]
    write_cirr(str(tmp_path), plans, seed=0, image_size=16, noise=0.0, progress=False)
    train = load_cirr(str(tmp_path), "train", check_images=True)
    val = load_cirr(str(tmp_path), "val", check_images=True)
    test = load_cirr(str(tmp_path), "test1", check_images=True)
    assert len(train.queries) == 8 and len(val.queries) == 8 and len(test.queries) == 4
    assert all(q.target is None for q in test.queries)
    assert train.to_triplets().num_rows == 8
    # oracle scores (target highest, reference second) give perfect recall
    g = {n: i for i, n in enumerate(val.gallery_names)}
    scores = np.zeros((len(val.queries), len(g)))
    for i, q in enumerate(val.queries):
        scores[i, g[q.reference]], scores[i, g[q.target]] = 2.0, 1.0
    m = cirr_metrics(scores, val.gallery_names, [q.reference for q in val.queries],
                     [q.target for q in val.queries], [q.members for q in val.queries])
    assert m["recall@1"] == 100.0 and m["recall_subset@1"] == 100.0
