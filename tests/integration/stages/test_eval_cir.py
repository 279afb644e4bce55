"""`vdgray eval` end to end on the tiny CIRR fixture: metrics, rankings, cache, submissions."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.assets import CIRR_TINY, FASHIONIQ_TINY
from helpers.tiny_cir import save_tiny_cir

from vdgray import manifest, storage
from vdgray.data.cirr import load_cirr
from vdgray.stages.eval_cir import EvalConfig, run

pytestmark = pytest.mark.integration

CIRR = str(CIRR_TINY)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cirmodel") / "model"
    save_tiny_cir(path)
    return str(path)


def _rescore(rows, split) -> dict[str, float]:
    """Recall@K recomputed from the written rankings (every image fits in the top 50 here)."""
    by_pair = {q.pairid: q for q in split.queries}
    ranks = np.array([r["top50"].index(by_pair[r["pairid"]].target) for r in rows])
    return {f"recall@{k}": 100.0 * float(np.mean(ranks < k)) for k in (1, 5, 10, 50)}


def test_eval_val_writes_metrics_rankings_and_reuses_cached_gallery(ray_session, model_dir,
                                                                     any_uri):
    cfg = EvalConfig(model=model_dir, data={"format": "cirr", "root": CIRR, "split": "val"},
                     output=f"{any_uri}/eval", batch_size=4)
    res = run(cfg)
    assert res["cache_hit"] is False and res["gallery"] == 8 and res["queries"] == 3
    doc = manifest.read_manifest(cfg.output, "eval")
    metrics = storage.read_json(storage.join(cfg.output, "metrics.json"))["metrics"]
    assert doc["metrics"] == metrics
    rows = storage.read_parquet(storage.join(cfg.output, "rankings.parquet")).to_pylist()
    split = load_cirr(CIRR, "val")
    assert sorted(r["pairid"] for r in rows) == sorted(q.pairid for q in split.queries)
    assert all(r["reference"] not in r["top50"] and len(r["top50"]) == 7 for r in rows)
    for k, v in _rescore(rows, split).items():
        assert metrics[k] == pytest.approx(v)
    # a second evaluation of the same model and split reads the cached gallery embeddings
    again = run(EvalConfig(**{**cfg.model_dump(), "output": f"{any_uri}/eval2"}))
    assert again["cache_hit"] is True and again["metrics"] == metrics


def test_eval_test1_writes_both_submission_files(ray_session, model_dir, tmp_path):
    out = str(tmp_path / "test1")
    res = run(EvalConfig(model=model_dir, data={"format": "cirr", "root": CIRR, "split": "test1"},
                         output=out, cache=str(tmp_path / "cache")))
    assert res["metrics"] is None
    recall = storage.read_json(f"{out}/recall_submission.json")
    subset = storage.read_json(f"{out}/recall_subset_submission.json")
    pairids = [str(q.pairid) for q in load_cirr(CIRR, "test1").queries]
    assert recall["metric"] == "recall" and subset["metric"] == "recall_subset"
    assert all(p in recall and p in subset for p in pairids)
    assert all(len(subset[p]) <= 3 for p in pairids)


FASHIONIQ = str(FASHIONIQ_TINY)


def test_eval_fashioniq_val_per_category_and_average(ray_session, model_dir, tmp_path):
    out = str(tmp_path / "fiq")
    res = run(EvalConfig(model=model_dir, data={"format": "fashioniq", "root": FASHIONIQ,
                                                "split": "val"}, output=out))
    m = res["metrics"]
    assert set(m) == {"dress", "shirt", "toptee", "average"}
    # every category gallery here is smaller than 10, so each target is within the top 10
    assert all(m[c]["recall@10"] == 100.0 for c in ("dress", "shirt", "toptee"))
    rows = storage.read_parquet(f"{out}/rankings.parquet").to_pylist()
    assert {r["category"] for r in rows} == {"dress", "shirt", "toptee"}
    from vdgray.data.fashioniq import load_fashioniq

    galleries = load_fashioniq(FASHIONIQ, "val").galleries
    # FashionIQ removes nothing (not even the reference): the whole category gallery is ranked
    assert all(sorted(r["top50"]) == sorted(galleries[r["category"]]) for r in rows)
