"""`vdgray cir-claim` end to end on a toy world: supervised, semi-supervised and oracle, and
experiments/claim_regime.py (the regime sweep) run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.family_pairs import write_family_pairs
from helpers.paths import ROOT
from helpers.worlds import synth_world

from vdgray import manifest
from vdgray.data.synthetic.oracle import ORACLE_GENERATOR
from vdgray.data.triplets import PSEUDO, make_triplets
from vdgray.layout import CLAIM_STAGE, TRIPLETS_STAGE
from vdgray.runtime import RayConfig
from vdgray.stages.cir_claim import ClaimConfig, run

pytestmark = pytest.mark.integration

TRAIN = {"epochs": 2, "batch_size": 8, "lr": 1e-3}


@pytest.fixture(scope="module")
def world(tmp_path_factory, ray_session):
    """A toy world, its family pairs, and 'VDG' triplets for some of them whose deltas are
    all the same wrong text (a VDG that ignores the images)."""
    root = tmp_path_factory.mktemp("claimworld")
    w = synth_world(str(root / "world"), n_gallery=40, n_train=24, n_val=12, n_test=12)
    pairs = str(root / "pairs")
    write_family_pairs(w, pairs)
    table = manifest.read_dataset(pairs).slice(0, 30)
    vdg = str(root / "vdg-triplets")
    refs, tgts = table.column("reference_id").to_pylist(), table.column("target_id").to_pylist()
    from vdgray import storage

    storage.write_parquet(f"{vdg}/part-0.parquet",
                          make_triplets(refs, tgts, ["make it red"] * len(refs), PSEUDO, "vdg"))
    manifest.write_manifest(vdg, stage=TRIPLETS_STAGE, files=["part-0.parquet"])
    return {"world": w, "pairs": pairs, "vdg": vdg, "gallery": f"{w}/gallery", "root": root}


def test_claim_trains_three_variants_with_the_oracle_on_the_vdgs_pairs(world, tmp_path, capsys):
    out = str(tmp_path / "claim")
    cfg = ClaimConfig(world=world["world"], triplets=world["vdg"], gallery=world["gallery"],
                      encoder="tiny-clip", output=out, seeds=[0], train=TRAIN, shuffled=True,
                      ray=RayConfig(num_cpus=2))
    res = run(cfg)
    assert list(res["variants"]) == ["supervised", "semi-supervised", "oracle", "shuffled-text"]
    assert set(res["gap"]) == {"semi-supervised", "oracle", "shuffled-text"} and "share" in res
    printed = capsys.readouterr().out
    for row in ("semi-supervised", "gap (oracle − sup)", "share of oracle gain"):
        assert row in printed
    # the oracle described exactly the VDG's pairs (those with an attribute-level delta)
    oracle = manifest.read_dataset(f"{out}/oracle-triplets", TRIPLETS_STAGE)
    vdg = manifest.read_dataset(world["vdg"], TRIPLETS_STAGE)
    vdg_pairs = set(zip(vdg.column("reference_id").to_pylist(),
                        vdg.column("target_id").to_pylist(), strict=True))
    oracle_pairs = set(zip(oracle.column("reference_id").to_pylist(),
                           oracle.column("target_id").to_pylist(), strict=True))
    assert oracle_pairs and oracle_pairs <= vdg_pairs
    assert set(oracle.column("generator").to_pylist()) == {ORACLE_GENERATOR}
    assert "make it red" not in set(oracle.column("text").to_pylist())
    doc = manifest.read_manifest(out, CLAIM_STAGE)
    assert manifest.is_complete(f"{out}/shuffled-triplets", TRIPLETS_STAGE)
    assert doc["counts"]["runs"] == 4 and sorted(doc["files"]) == ["claim.json", "claim.png"]
    assert doc["summary"]["oracle_triplets"]["triplets"] == len(oracle_pairs)
    again = run(cfg)  # finished: skipped, the table printed again
    assert again["skipped"] is True and "share of oracle gain" in capsys.readouterr().out
    # `vdgray report claim`: the same table and the chart, on one offline page
    from vdgray.cli import main

    page = str(tmp_path / "claim.html")
    assert main(["report", "claim", "--claim", out, "-o", page]) == 0
    html = (tmp_path / "claim.html").read_text()
    assert "share of oracle gain" in html and "gap (oracle − sup)" in html
    assert 'src="data:image/png;base64,' in html and "http" not in html


def test_regime_experiment_writes_its_table_plot_and_verdicts(world, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("- {name: h12, human: 12, pseudo: 40, steps: 3, batch_size: 4}\n"
                    "- {name: h24-r2, human: 24, pseudo: 60, pseudo_ratio: 2, steps: 6, "
                    "batch_size: 4, train_backbone: none}\n")
    out = tmp_path / "sweep"
    script = ROOT / "experiments" / "claim_regime.py"
    subprocess.run([sys.executable, str(script), "--world", world["world"], "--pairs",
                    f"gallery={world['pairs']}", "--encoder", "gallery=tiny-clip", "--grid", str(grid),
                    "--out", str(out), "--seeds", "0", "--num-cpus", "2"], check=True,
                   timeout=900)
    doc = json.loads((out / "regime.json").read_text())
    assert [r["point"]["name"] for r in doc["rows"]] == ["h12", "h24-r2"]
    for r in doc["rows"]:
        assert set(r["summary"]["variants"]) == {"supervised", "oracle"}
        assert isinstance(r["verdict"]["meets"], bool)
        assert r["verdict"]["meets"] or r["verdict"]["why"]
    assert doc["rows"][0]["pseudo_triplets"] <= 40
    md = (out / "regime.md").read_text()
    assert md.count("\n| h") == 2 and "gain R@10" in md
    assert (out / "regime.png").read_bytes()[:4] == b"\x89PNG"
    runs = manifest.read_manifest(str(out / "h24-r2"), CLAIM_STAGE)
    assert runs["config"]["human_limit"] == 24 and runs["config"]["train"]["pseudo_ratio"] == 2
