"""CIRR test-server submission files: official format, validated lengths, local and S3."""

from __future__ import annotations

import numpy as np
import pytest

from vdgray import storage
from vdgray.errors import DataFormatError
from vdgray.eval.metrics import rank_gallery, rank_subsets
from vdgray.eval.submission import write_cirr_submission

NAMES = [f"test1-{i}-0-img0" for i in range(60)]


def test_official_format_from_rankings(any_uri):
    rng = np.random.default_rng(0)
    scores = rng.random((2, 60))
    refs = [NAMES[0], NAMES[1]]
    members = [NAMES[:6], NAMES[1:7]]
    top50 = rank_gallery(scores, NAMES, exclude=refs, k=50)
    top3 = rank_subsets(scores, NAMES, members, exclude=refs, k=3)
    rec_uri, sub_uri = write_cirr_submission(any_uri, [12063, 7], top50, top3, name="demo")
    assert rec_uri.endswith("recall_submission_demo.json")
    assert sub_uri.endswith("recall_subset_submission_demo.json")
    rec, sub = storage.read_json(rec_uri), storage.read_json(sub_uri)
    assert list(rec) == ["version", "metric", "12063", "7"]
    assert rec["version"] == "rc2" and rec["metric"] == "recall"
    assert sub["version"] == "rc2" and sub["metric"] == "recall_subset"
    assert rec["12063"] == top50[0] and len(rec["7"]) == 50 and NAMES[1] not in rec["7"]
    assert len(sub["12063"]) == 3 and set(sub["12063"]) <= set(NAMES[1:6])


def test_lengths_and_duplicates_are_checked(tmp_path):
    ok50, ok3 = [NAMES[:50]], [NAMES[:3]]
    with pytest.raises(DataFormatError, match="recall submission: pairid 5 has 49 names, "
                                              "expected exactly 50"):
        write_cirr_submission(str(tmp_path), [5], [NAMES[:49]], ok3)
    with pytest.raises(DataFormatError, match="recall_subset submission: pairid 5 has 4 names"):
        write_cirr_submission(str(tmp_path), [5], ok50, [NAMES[:4]])
    with pytest.raises(DataFormatError, match="pairid 5 must list 50 distinct"):
        write_cirr_submission(str(tmp_path), [5], [NAMES[:49] + NAMES[:1]], ok3)
    with pytest.raises(DataFormatError, match="pairid 5 appears twice"):
        write_cirr_submission(str(tmp_path), [5, 5], ok50 * 2, ok3 * 2)
    with pytest.raises(DataFormatError, match="1 rankings for 2 pairids"):
        write_cirr_submission(str(tmp_path), [5, 6], ok50, ok3 * 2)
    assert not list(tmp_path.iterdir())  # nothing written when invalid


def test_short_lists_allowed_for_small_galleries(tmp_path):
    rec_uri, _ = write_cirr_submission(str(tmp_path), [1], [NAMES[:9]], [NAMES[:2]],
                                       allow_short=True)
    assert storage.read_json(rec_uri)["1"] == NAMES[:9]
    with pytest.raises(DataFormatError, match="has 51 names"):
        write_cirr_submission(str(tmp_path), [1], [NAMES[:51]], [NAMES[:2]], allow_short=True)
