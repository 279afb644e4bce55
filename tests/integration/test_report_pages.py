"""`vdgray report triplets` on a real `generate` output: the page holds the sampled triplets
and the dropped pairs with their reasons, every image inlined, and in a real browser every
image loads from the file alone (nothing fetched)."""

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


def test_a_report_of_an_unfinished_output_says_so(tmp_path, capsys):
    assert main(["report", "triplets", "--triplets", str(tmp_path / "nothing"), "--gallery",
                 str(tmp_path), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing" in err[0], err
    assert not (tmp_path / "r.html").exists()
