"""The shared triplets contract: deterministic ids and the Arrow schema."""

from __future__ import annotations

import pytest

from vdgray.data.triplets import make_triplets, triplet_id, triplets_schema


def test_triplet_id_is_deterministic_and_field_separated():
    a = triplet_id("ref", "tgt", "human")
    assert a == triplet_id("ref", "tgt", "human") and len(a) == 16
    assert a != triplet_id("ref", "tgt", "vdg-ckpt-1")
    assert triplet_id("a b", "c", "g") != triplet_id("a", "b c", "g")
    assert triplet_id("a", "b", "g") != triplet_id("b", "a", "g")


def test_make_triplets_with_and_without_score():
    t = make_triplets(["r"], ["t"], ["make it red"], "pseudo", "vdg", scores=[0.5])
    assert t.schema == triplets_schema(with_score=True)
    assert t.to_pylist() == [{"triplet_id": triplet_id("r", "t", "vdg"), "reference_id": "r",
                              "target_id": "t", "text": "make it red", "source": "pseudo",
                              "generator": "vdg", "score": 0.5}]
    assert make_triplets([], [], [], "human", "human").schema == triplets_schema()
    with pytest.raises(ValueError, match="same length"):
        make_triplets(["r"], [], ["x"], "human", "human")
    with pytest.raises(ValueError, match="source must be"):
        make_triplets(["r"], ["t"], ["x"], "mined", "human")
