"""`vdgray report` on real outputs: `triplets` on a `generate` run (the sampled triplets and
the dropped pairs with their reasons) and `eval` on an evaluation of a tiny world (per query
the reference, the text, the top k with the target marked). Every image is inlined, and in a
real browser every image loads from the file alone (nothing fetched)."""

from __future__ import annotations

import re
import tempfile

import pytest
from helpers.browser import ARTIFACTS

from vdgray import manifest, storage
from vdgray.bench.generate_scale import write_inputs
from vdgray.cli import main
from vdgray.config import load_config
from vdgray.layout import TRIPLETS_STAGE
from vdgray.stages.generate.stage import GenerateConfig, run

pytestmark = pytest.mark.integration

N_IMAGES, N_PAIRS = 8, 40


@pytest.fixture(scope="module")
def generated(tmp_path_factory, ray_session):
    """40 pairs through generate with a tiny random VDG: its texts are mostly gibberish, so
    the filter drops some (each with its reason) and keeps others."""
    from vdgray.models.vdg.build import save_vdg, tiny_vdg

    root = str(tmp_path_factory.mktemp("report"))
    with tempfile.TemporaryDirectory() as tmp:
        save_vdg(*tiny_vdg(seed=0), tmp)
        inputs = write_inputs(root, N_PAIRS, N_IMAGES, tmp)
    out = f"{root}/triplets"
    sets = {**inputs, "output": out, "batch_size": 8, "num_cpus_per_actor": 0.5,
            "torch_threads": 1, "filters.min_words": 3}
    run(load_config(GenerateConfig, None, [f"{k}={v}" for k, v in sets.items()]))
    return {**inputs, "triplets": out, "root": root}


def test_the_triplets_report_shows_kept_and_dropped_pairs_as_images(generated, capsys):
    page = f"{generated['root']}/report/triplets.html"
    assert main(["report", "triplets", "--triplets", generated["triplets"], "--gallery",
                 generated["gallery"], "-n", "5", "-o", page]) == 0
    doc = manifest.read_manifest(generated["triplets"], stage=TRIPLETS_STAGE)
    kept = doc["counts"]["triplets"]
    dropped = sum(v for k, v in doc["counts"].items() if k.startswith("removed_"))
    assert kept and dropped, doc["counts"]  # the fixture must give both kinds
    out = capsys.readouterr().out
    assert f"{min(5, kept)} of {kept} triplets, {min(5, dropped)} of {dropped} dropped" in out
    html = storage.read_text(page)
    assert "http://" not in html and "https://" not in html  # nothing fetched
    ids = re.findall(r'<img src="data:image/jpeg;base64,[^"]+" alt="[^"]*" data-image-id="([^"]+)"', html)
    assert len(ids) == 2 * min(5, kept) + 2 * min(5, dropped)
    assert set(ids) <= {f"img-{i:08d}" for i in range(N_IMAGES)}
    reasons = {k.removeprefix("removed_") for k, v in doc["counts"].items()
               if k.startswith("removed_") and v}
    assert any(f"<td>{r}</td>" in html for r in reasons)


def test_the_triplets_report_opens_offline_in_a_browser(generated, browser, tmp_path):
    page = tmp_path / "triplets.html"
    assert main(["report", "triplets", "--triplets", generated["triplets"], "--gallery",
                 generated["gallery"], "-n", "4", "-o", str(page)]) == 0
    tab = browser.new_page(viewport={"width": 1000, "height": 800})
    requests: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    sizes = tab.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert sizes and all(w > 0 for w in sizes)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "triplets-report.png"), full_page=True)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    tab.close()


def test_the_pairs_report_shows_each_sampled_group_as_a_row_of_images(generated, browser,
                                                                      tmp_path, capsys):
    page = tmp_path / "pairs.html"
    assert main(["report", "pairs", "--pairs", generated["pairs"], "--gallery",
                 generated["gallery"], "-n", "3", "-o", str(page)]) == 0
    # write_inputs' groups: group g holds reference g and its targets (7 per group here)
    assert "report pairs: 3 of 6 groups (40 pairs)" in capsys.readouterr().out
    html = page.read_text()
    assert html.count('<div class="row">') == 3 and "&rarr;" in html
    tab = browser.new_page(viewport={"width": 1200, "height": 800})
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    sizes = tab.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert len(sizes) >= 3 * 2 and all(w > 0 for w in sizes)
    tab.screenshot(path=str(ARTIFACTS / "pairs-report.png"), full_page=True)
    tab.close()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, ray_session):
    """A tiny world's val split evaluated with a tiny CIR model."""
    from helpers.tiny_cir import save_tiny_cir
    from helpers.worlds import synth_world

    from vdgray.stages.eval_cir import EvalConfig
    from vdgray.stages.eval_cir import run as evaluate

    root = tmp_path_factory.mktemp("report-eval")
    world = synth_world(str(root / "world"), n_gallery=6, n_train=4, n_val=8, n_test=4)
    model = str(root / "model")
    save_tiny_cir(model)
    out = str(root / "eval")
    evaluate(EvalConfig(model=model, data={"format": "world", "root": world, "split": "val"},
                        output=out, batch_size=8))
    return {"eval": out, "root": root,
            "rankings": storage.read_parquet(f"{out}/rankings.parquet").to_pylist()}


def test_the_eval_report_shows_each_query_with_its_top_k_and_the_target_marked(evaluated,
                                                                             capsys):
    page = str(evaluated["root"] / "eval.html")
    rows = evaluated["rankings"]
    assert main(["report", "eval", "--eval", evaluated["eval"], "-n", "4", "--k", "3",
                 "-o", page]) == 0
    html = storage.read_text(page)
    assert html.count('<div class="query" id="q-') == min(4, len(rows))
    assert "recall@1" in html and "http://" not in html
    ids = re.findall(r'data-image-id="([^"]+)"><figcaption>', html)
    assert len(ids) == min(4, len(rows)) * (1 + 3)
    first = rows[0]
    assert main(["report", "eval", "--eval", evaluated["eval"], "--query", str(first["pairid"]),
                 "--k", "3", "-o", page]) == 0
    one = storage.read_text(page)
    assert f'id="q-{first["pairid"]}"' in one and one.count('<div class="query"') == 1
    assert ("(target)" in one) == (first["target"] in first["top50"][:3])
    out = capsys.readouterr().out
    assert "report eval: 1 of" in out
    assert main(["report", "eval", "--eval", evaluated["eval"], "--query", "987654321",
                 "-o", page]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "987654321" in err[0], err


def test_the_eval_report_opens_offline_in_a_browser(evaluated, browser, tmp_path):
    page = tmp_path / "eval.html"
    assert main(["report", "eval", "--eval", evaluated["eval"], "-n", "3", "-o",
                 str(page)]) == 0
    tab = browser.new_page(viewport={"width": 1000, "height": 800})
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    sizes = tab.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert len(sizes) == 3 * 6 and all(w > 0 for w in sizes)  # reference + top 5 each
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "eval-report.png"), full_page=True)
    tab.close()


def test_a_report_of_an_unfinished_output_says_so(tmp_path, capsys):
    assert main(["report", "triplets", "--triplets", str(tmp_path / "nothing"), "--gallery",
                 str(tmp_path), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing" in err[0], err
    assert not (tmp_path / "r.html").exists()
