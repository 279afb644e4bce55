"""eval-vdg on the tiny CIRR asset: files, table, and scores recomputable from predictions."""

from __future__ import annotations

import pytest
from helpers.assets import CIRR_TINY

from vdgray import manifest, storage

CIRR = str(CIRR_TINY)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from vdgray.models.vdg.build import save_vdg, tiny_vdg

    path = tmp_path_factory.mktemp("vdg") / "model"
    save_vdg(*tiny_vdg(), path)
    return str(path)


def test_eval_writes_results_predictions_chart(tiny_model_dir, tmp_path):
    from vdgray.data.cirr import load_cirr
    from vdgray.eval.text_metrics import corpus_bleu, mean_rouge_l
    from vdgray.stages.eval_vdg import EvalVdgConfig, format_table, run

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
    assert "BLEU-4" in table and "ROUGE-L" in table and "image gain" in table
    # the image controls: scored on the same human text, recomputable from their columns
    for name in ("reference_twice", "swapped"):
        c_texts = preds.column(f"text_{name}").to_pylist()
        assert res["controls"][name]["bleu4"] == pytest.approx(corpus_bleu(c_texts, human))
        assert res["controls"][name]["rouge_l"] == pytest.approx(mean_rouge_l(c_texts, human))
    best = max(c["rouge_l"] for c in res["controls"].values())
    assert res["image_gain"]["rouge_l"] == pytest.approx(res["rouge_l"] - best)


def test_controls_put_the_right_images_in_each_slot(tiny_model_dir, tmp_path, monkeypatch):
    from vdgray.data.cirr import load_cirr
    from vdgray.models.vdg import generate
    from vdgray.stages import eval_vdg as vdg

    seen: list[tuple[bytes, bytes]] = []

    class Recorder:
        format = "delta"

        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, batch):
            seen.extend(zip(batch["reference_image"], batch["target_image"], strict=True))
            texts = ["make it red"] * len(batch["reference_image"])
            return {**batch, "text": texts, "response": texts}

    monkeypatch.setattr(generate, "DeltaGenerator", Recorder)
    res = vdg.run(vdg.EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=str(tmp_path / "e"),
                                    limit=2))
    split = load_cirr(CIRR, "val")
    q = split.queries[:2]
    ref, tgt = [split.read_image(x.reference) for x in q], [split.read_image(x.target) for x in q]
    pairs = [(ref, tgt), (ref, ref), (tgt, ref)]  # true pair, reference_twice, swapped
    assert seen == [p for a, b in pairs for p in zip(a, b, strict=True)]
    # the same text for every input: no control can score lower, the gain is zero
    assert all(v == pytest.approx(0.0) for v in res["image_gain"].values())


def test_controls_can_be_turned_off(tiny_model_dir, tmp_path):
    from vdgray.stages.eval_vdg import EvalVdgConfig, format_table, run

    res = run(EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=str(tmp_path / "e"),
                            max_new_tokens=2, do_sample=False, limit=2, controls=False))
    cols = storage.read_parquet([str(tmp_path / "e" / "predictions.parquet")]).column_names
    assert "controls" not in res and "image_gain" not in res
    assert not any(c.startswith("text_") for c in cols)
    assert "image gain" not in format_table(res)


def test_image_gain_is_the_true_score_minus_the_best_control():
    from vdgray.eval.vdg_controls import format_controls, image_gain

    true = {"bleu4": 0.5, "rouge_l": 0.6, "delta": {"exact_match": 0.4}}
    controls = {"reference_twice": {"bleu4": 0.1, "rouge_l": 0.3, "exact_match": 0.0},
                "swapped": {"bleu4": 0.2, "rouge_l": 0.2, "exact_match": 0.1}}
    gain = image_gain(true, controls)
    assert gain == pytest.approx({"bleu4": 0.3, "rouge_l": 0.3, "exact_match": 0.3})
    rows = format_controls({**true, "controls": controls, "image_gain": gain})
    assert rows[1].split() == ["images", "BLEU-4", "ROUGE-L", "exact"]
    assert rows[2].split() == ["true", "pair", "0.5000", "0.6000", "0.4000"]
    assert rows[-1].split() == ["image", "gain", "0.3000", "0.3000", "0.3000"]


def test_greedy_eval_is_deterministic(tiny_model_dir, tmp_path):
    from vdgray.stages.eval_vdg import EvalVdgConfig, run

    a = run(EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=str(tmp_path / "a"),
                          max_new_tokens=4, do_sample=False, limit=2))
    b = run(EvalVdgConfig(model=tiny_model_dir, cirr=CIRR, output=str(tmp_path / "b"),
                          max_new_tokens=4, do_sample=False, limit=2))
    ta = storage.read_parquet([str(tmp_path / "a" / "predictions.parquet")]).column("text")
    tb = storage.read_parquet([str(tmp_path / "b" / "predictions.parquet")]).column("text")
    assert a["queries"] == b["queries"] == 2 and ta.to_pylist() == tb.to_pylist()
    assert a["rouge_l"] == b["rouge_l"]


def test_describe_scores_split_errors_into_reading_and_comparing():
    from types import SimpleNamespace

    from vdgray.stages.eval_vdg import describe_scores

    qs = [SimpleNamespace(reference="r1", target="t1"), SimpleNamespace(reference="r2", target="t2")]
    caps = {"r1": "a red circle", "t1": "a blue circle", "r2": "a red star", "t2": "a red square"}
    responses = ["before: a red circle after: a blue circle change: make it blue",
                 "before: a red star after: a red circle change: make it a circle"]
    s = describe_scores(responses, qs, caps, exact=[True, False])
    assert s["reference_described"] == 1.0 and s["target_described"] == 0.5
    assert s["both_described"] == 0.5 and s["stated_a_change"] == 1.0
    assert s["exact_when_both_described"] == 1.0 and s["exact_otherwise"] == 0.0
