"""The retriever filter over a trained CIR model: ranks match the model's own ranking."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from helpers.tiny_cir import tiny_cir_index

from vdgray.stages.generate.filters import DeltaFilter
from vdgray.stages.generate.rank import CirRank
from vdgray.stages.generate.stage import GenerateConfig

N = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_cir_index(tmp_path_factory.mktemp("rank"), N, seed=5)


def _order(world, ref: int, text: str) -> list[str]:
    m = world["model"]
    q = m.encode_queries(m.preprocess([world["pngs"][ref]]), [text]).numpy()[0]
    return [world["names"][i] for i in np.argsort(-(world["vectors"] @ q), kind="stable")
            if i != ref]


def test_ranks_are_the_models_ranking_without_the_reference(world):
    rank = CirRank(str(world["root"] / "model"), str(world["root"] / "index"), top_k=4)
    order = _order(world, 2, "make it blue")
    targets = [order[0], order[3], order[5]]
    got = rank([world["pngs"][2]] * 3, ["make it blue"] * 3, targets,
               reference_ids=["img02"] * 3)
    assert got == [0, 3, 4]  # the 6th answer is outside the top 4: counted as top_k


def test_delta_filter_with_a_cir_model_keeps_only_vouched_triplets(world):
    order = _order(world, 1, "turn it green")
    f = DeltaFilter("g", retriever_model=str(world["root"] / "model"),
                    retriever_index=str(world["root"] / "index"), top_k=2)
    batch = pa.table({
        "triplet_id": ["a", "b"], "reference_id": ["img01", "img01"],
        "target_id": [order[1], order[7]], "text": ["turn it green", "turn it green now"],
        "reference_image": pa.array([world["pngs"][1]] * 2, pa.binary()),
    })
    out = f(batch)
    assert out.column("triplet_id").to_pylist() == ["a"]
    assert f.removed == [{"triplet_id": "b", "reason": "retriever"}]


def test_model_and_index_go_together():
    base = {"pairs": "/p", "gallery": "/g", "model": "/m", "output": "/o"}
    with pytest.raises(ValueError, match="go together"):
        GenerateConfig(**base, filters={"retriever_model": "/cir"})
    with pytest.raises(ValueError, match="not both"):
        GenerateConfig(**base, filters={"retriever_model": "/cir", "retriever_index": "/ix",
                                        "retriever": "a.b:c"})
