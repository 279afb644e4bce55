"""The in-process Retriever over a tiny model and an index written by `write_index` (no Ray)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from helpers.tiny_cir import tiny_cir_index

from vdgray import storage
from vdgray.errors import ConfigError, DataFormatError
from vdgray.retrieval.image_store import ImageStore
from vdgray.retrieval.queries import Query, QueryError
from vdgray.retrieval.retriever import Retriever
from vdgray.stages.index import IndexConfig, write_index

N = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return tiny_cir_index(tmp_path_factory.mktemp("retriever"), N, seed=3)


@pytest.fixture(scope="module")
def retriever(setup):
    return Retriever(str(setup["root"] / "model"), str(setup["root"] / "index"), torch_threads=1)


def _expected(setup, ref: int, text: str) -> list[str]:
    """Brute-force ranking: the query embedding against every gallery vector."""
    m = setup["model"]
    q = m.encode_queries(m.preprocess([setup["pngs"][ref]]), [text]).numpy()[0]
    order = np.argsort(-(setup["vectors"] @ q), kind="stable")
    return [setup["names"][i] for i in order]


def test_search_by_id_ranks_like_brute_force_without_the_reference(setup, retriever):
    (res,) = retriever.search([Query(text="make it bigger", k=5, image_id="img04")])
    got = [h["image_id"] for h in res["results"]]
    want = [n for n in _expected(setup, 4, "make it bigger") if n != "img04"][:5]
    assert got == want and res["k"] == 5
    scores = [h["score"] for h in res["results"]]
    assert scores == sorted(scores, reverse=True)


def test_sent_image_equals_the_same_image_by_id(setup, retriever):
    by_id, by_bytes = retriever.search([
        Query(text="red circle", k=N, image_id="img07", exclude_reference=False),
        Query(text="red circle", k=N, image=setup["pngs"][7]),
    ])
    assert [h["image_id"] for h in by_id["results"]] == [h["image_id"] for h in by_bytes["results"]]
    assert len(by_id["results"]) == N
    for a, b in zip(by_id["results"], by_bytes["results"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_bad_queries_get_errors_and_their_batch_neighbours_answers(retriever):
    out = retriever.search([
        Query(text="x", k=3, image_id="no-such-image"),
        Query(text="x", k=3, image_id="img01"),
        Query(text="x", k=3, image=b"definitely not an image"),
    ])
    assert isinstance(out[0], QueryError) and out[0].status == 404
    assert out[0].field == "image_id" and "no-such-image" in out[0].message
    assert len(out[1]["results"]) == 3
    assert isinstance(out[2], QueryError) and out[2].status == 400 and out[2].field == "image"
    assert all(isinstance(e, QueryError) for e in retriever.search(
        [Query(text="x", k=1, image_id="nope")]))


def test_ivf_index_and_health(setup, tmp_path):
    write_index(str(tmp_path / "ivf"), setup["names"], setup["vectors"], kind="ivf", nlist=2,
                nprobe=2, model="m", source={"gallery": str(setup["root"] / "gallery")})
    r = Retriever(str(setup["root"] / "model"), str(tmp_path / "ivf"))
    (res,) = r.search([Query(text="x", k=N - 1, image_id="img00")])
    assert len(res["results"]) == N - 1 and "img00" not in [h["image_id"] for h in res["results"]]
    assert r.describe()["index_kind"] == "IndexIVFFlat" and r.describe()["vectors"] == N
    r.check()


def test_index_of_another_dimension_is_refused(setup, tmp_path):
    other = np.eye(N, 8, dtype=np.float32)
    write_index(str(tmp_path / "d8"), setup["names"], other, model="x", source={})
    with pytest.raises(ConfigError, match="dimension 8"):
        Retriever(str(setup["root"] / "model"), str(tmp_path / "d8"))


def test_write_index_refuses_duplicate_ids(tmp_path):
    with pytest.raises(DataFormatError, match="duplicate"):
        write_index(str(tmp_path / "dup"), ["a", "a"], np.eye(2, 4, dtype=np.float32),
                    model="m", source={"gallery": "g"})


def test_image_store_reads_parquet_galleries_by_id(setup, tmp_path):
    table = pa.table({"image_id": setup["names"], "image": pa.array(setup["pngs"], pa.binary())})
    storage.write_parquet(str(tmp_path / "pq" / "part-0.parquet"), table.slice(0, 5))
    storage.write_parquet(str(tmp_path / "pq" / "part-1.parquet"), table.slice(5))
    store = ImageStore.from_source({"gallery": str(tmp_path / "pq")})
    assert len(store) == N and "img09" in store and "img99" not in store
    assert store.get("img09") == setup["pngs"][9] and store.get("img02") == setup["pngs"][2]


def test_index_config_checks_its_keys(tmp_path):
    base = {"model": str(tmp_path), "gallery": str(tmp_path), "output": str(tmp_path / "o")}
    with pytest.raises(ValueError, match="split"):
        IndexConfig(**base, split="dev")
    with pytest.raises(ValueError, match="cache"):
        IndexConfig(**base, cache=str(tmp_path / "c"))
    assert IndexConfig(**base, split="val").cache_uri().endswith("/eval-cache")
