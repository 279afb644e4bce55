"""`vdgray demo --size tiny` end to end, as a user runs it, then again: every stage skipped."""

import json
import re
import subprocess

import pytest
import yaml
from helpers.paths import BIN, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _demo_cmd(out):
    return [str(BIN / "vdgray"), "demo", "--size", "tiny", "--num-cpus", "2", "--output", str(out)]


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    """`vdgray demo --size tiny`, run once: (output root, the finished process)."""
    out = tmp_path_factory.mktemp("tiny") / "demo"
    first = subprocess.run(_demo_cmd(out), capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return out, first


@pytest.mark.timeout(2400)  # ~10 min alone on 2 CPUs; the run-level limit (900 s) is too tight under load
def test_tiny_demo_runs_every_stage_then_resumes(tiny_demo):
    out, first = tiny_demo
    cmd = _demo_cmd(out)
    assert "pipeline finished" in first.stdout
    world = json.loads((out / "world" / "_manifest.json").read_text())
    assert world["stage"] == "synth" and world["counts"]["gallery"] == 240
    emb = json.loads((out / "embeddings" / "_manifest.json").read_text())
    assert emb["counts"] == {"images": 240, "failed": 0}
    pairs = json.loads((out / "pairs" / "_manifest.json").read_text())
    assert pairs["counts"]["pairs"] > 0 and pairs["counts"]["groups"] > 0
    align = json.loads((out / "vdg" / "align" / "_manifest.json").read_text())
    assert {"read_shape", "read_background"} <= set(align["metrics"])  # the reading probe ran
    vdg_eval = json.loads((out / "vdg" / "eval" / "results.json").read_text())
    assert set(vdg_eval["controls"]) == {"reference_twice", "swapped"}  # the image controls ran
    assert "exact_match" in vdg_eval["image_gain"]  # scored against the world's true changes
    export = json.loads((out / "vdg" / "export" / "_manifest.json").read_text())
    assert export["stage"] == "vdg-model"
    triplets = json.loads((out / "triplets" / "_manifest.json").read_text())
    assert 0 < triplets["counts"]["triplets"] <= 120  # generate.max_pairs in the tiny preset
    claim = json.loads((out / "claim" / "claim.json").read_text())
    assert list(claim["variants"]) == ["supervised", "semi-supervised", "oracle"]
    assert claim["seeds"] == [0] and "share" in claim
    assert (out / "claim" / "claim.png").read_bytes()[:4] == b"\x89PNG"
    assert "gap (semi − sup)" in first.stdout and "share of oracle gain" in first.stdout
    # the demo ends with the claim's table, and eval-vdg's table shows, not only its done line
    assert "share of oracle gain" in first.stdout.split("pipeline finished", 1)[1]
    assert "exact match (all)" in first.stdout
    assert json.loads((out / "index" / "_manifest.json").read_text())["counts"]["vectors"] == 54
    assert "serve-check: target in top-10 for" in first.stdout
    # it ends by naming its report pages, which hold the run's images
    tail = first.stdout.rsplit("look at it", 1)[1]
    for page in ("pairs", "triplets", "eval", "claim"):
        assert f"{page}: {out / 'reports' / (page + '.html')}" in tail
        images = "png" if page == "claim" else "jpeg"  # the claim page holds its chart
        assert (out / "reports" / f"{page}.html").read_text().count(f'src="data:image/{images}') >= (
            1 if page == "claim" else 4)
    _assert_speaks_in_its_own_voice(first.stdout + first.stderr)

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    stages = yaml.safe_load((ROOT / "vdgray" / "configs" / "demo-tiny.yaml").read_text())["stages"]
    # every stage but serve-check, which always runs
    assert second.stdout.count("already finished") == len(stages) - 1
    assert "share of oracle gain" in second.stdout.split("pipeline finished", 1)[1]


# Ray's log formats: "2026-12-01 14:12:02,255\tINFO worker.py:2038 -- ..." (driver),
# "INFO 2026-12-01 14:26:59,857 serve 12581 -- ..." (Serve), "(TrainController pid=1) ..."
RAY_LOG_LINE = re.compile(r"\t(INFO|WARNING) \S+\.py:\d+ -- |^(INFO|WARNING) \d{4}-\d\d-\d\d "
                          r"|^(\x1b\[\d+m)?\((\w+(\(.*\))?)* ?pid=\d+")


def _assert_speaks_in_its_own_voice(output: str) -> None:
    """Stage lines, epoch lines and results, once each; no Ray INFO/WARNING or worker lines."""
    lines = output.splitlines()
    assert len(lines) <= 150, f"{len(lines)} lines:\n" + "\n".join(lines)
    ray_lines = [ln for ln in lines if RAY_LOG_LINE.search(ln)]
    assert ray_lines == [], "\n".join(ray_lines)
    epochs = [ln for ln in lines if re.match(r"train-[a-z\[\]-]+: epoch \d+/\d+ ", ln)]
    assert epochs, "no epoch line reached the terminal"
    doubled = [a for a, b in zip(lines, lines[1:], strict=False) if a == b and a in epochs]
    assert doubled == [], doubled  # Ray Train's print patch printed every epoch line twice
    for stage in ("synth", "train-encoder", "generate", "serve-check"):
        assert any(re.match(rf"\[\d+/\d+\] {stage}: done in ", ln) for ln in lines), stage


@pytest.mark.timeout(1500)
def test_vdg_levers_experiment_on_the_tiny_demo(tiny_demo, tmp_path):
    """experiments/vdg_levers.py, as a user runs it, on the tiny demo's world and pairs: each
    recipe runs the VDG chain, generate and cir-claim, sharing supervised and oracle runs."""
    import sys

    base, _ = tiny_demo
    recipes = tmp_path / "recipes.yaml"
    # the tiny preset's own delta VDG (it keeps triplets, as the tiny demo test shows),
    # generating for half the pairs
    recipes.write_text("- name: half\n  settings:\n    generate: {max_pairs: 60}\n")
    out = tmp_path / "levers"
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "vdg_levers.py"), "--base",
                        str(base), "--recipes", str(recipes), "--out", str(out), "--preset",
                        "tiny", "--seeds", "0", "--num-cpus", "2"],
                       capture_output=True, text=True, timeout=1400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads((out / "levers.json").read_text())
    (row,) = doc["rows"]
    assert row["recipe"]["name"] == "half" and "error" not in row
    assert list(row["claim"]["variants"]) == ["supervised", "semi-supervised", "oracle"]
    assert 0 < row["triplets"]["triplets"] <= 60
    oracle = json.loads((out / "_shared" / "oracle-triplets" / "_manifest.json").read_text())
    assert oracle["counts"]["pairs"] == 60  # the oracle describes the pairs generate read
    # the world, encoder and pairs are the base's; the supervised runs are the shared ones
    assert (out / "half" / "pairs").resolve() == (base / "pairs").resolve()
    assert (out / "half" / "claim" / "supervised-seed0").resolve() == (
        out / "_shared" / "supervised-seed0").resolve()
    assert "| half |" in (out / "levers.md").read_text()
    assert (out / "levers.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_to_a_missing_bucket_is_one_line(s3_server):
    r = subprocess.run([str(BIN / "vdgray"), "demo", "--size", "tiny", "--output",
                        "s3://no-such-bucket-demo/x"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: s3://no-such-bucket-demo/x: bucket 'no-such-bucket-demo' does not exist"]
