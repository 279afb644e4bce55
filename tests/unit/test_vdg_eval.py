"""eval-vdg on the tiny CIRR asset: files, table, and scores recomputable from predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdgray import manifest, storage

CIRR = str(Path(__file__).parents[1] / "assets" / "cirr_tiny")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from vdgray.models.vdg.build import save_vdg, tiny_vdg

    path = tmp_path_factory.mktemp("vdg") / "model"
    save_vdg(*tiny_vdg(), path)
    return str(path)


def test_eval_writes_results_predictions_chart(tiny_model_dir, tmp_path):
    from vdgray.data.cirr import load_cirr
    from vdgray.eval.text_metrics import corpus_bleu, mean_rouge_l
    from vdgray.eval.vdg import EvalVdgConfig, format_table, run

    out = str(tmp_path / "eval")
    res = run(EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=out, max_new_tokens=6,
                            do_sample=False))
    n = len(load_cirr(CIRR, "val").queries)
    assert res["queries"] == n and "delta" not in res  # no truth/ beside a plain CIRR root
    preds = storage.read_parquet([f"{out}/results.json".replace("results.json",
                                                                "predictions.parquet")])
    assert preds.num_rows == n
    texts, human = preds.column("text").to_pylist(), preds.column("human").to_pylist()
    assert res["bleu4"] == pytest.approx(corpus_bleu(texts, human))
    assert res["rouge_l"] == pytest.approx(mean_rouge_l(texts, human))
    assert storage.read_json(f"{out}/results.json")["queries"] == n
    assert storage.read_bytes(f"{out}/delta_quality.png")[:4] == b"\x89PNG"
    assert manifest.read_manifest(out, "vdg-eval")["counts"]["queries"] == n
    table = format_table(res)
    assert "BLEU-4" in table and "ROUGE-L" in table


def test_greedy_eval_is_deterministic(tiny_model_dir, tmp_path):
    from vdgray.eval.vdg import EvalVdgConfig, run

    a = run(EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=str(tmp_path / "a"),
                          max_new_tokens=4, do_sample=False, limit=2))
    b = run(EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=str(tmp_path / "b"),
                          max_new_tokens=4, do_sample=False, limit=2))
    ta = storage.read_parquet([str(tmp_path / "a" / "predictions.parquet")]).column("text")
    tb = storage.read_parquet([str(tmp_path / "b" / "predictions.parquet")]).column("text")
    assert a["queries"] == b["queries"] == 2 and ta.to_pylist() == tb.to_pylist()
    assert a["rouge_l"] == b["rouge_l"]
