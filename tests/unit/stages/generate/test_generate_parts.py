"""Unit tests of `vdgray generate`'s parts without Ray: ids, pairs reading, gallery lookup,
filters, vLLM request rows and config mapping, and the stage config's validation."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest
from helpers.images import solid_png

from vdgray import storage
from vdgray.config import load_config
from vdgray.data.triplets import TRIPLETS_SCHEMA, triplet_id
from vdgray.errors import ConfigError
from vdgray.models.vdg.prompt import build_prompt
from vdgray.stages.generate.committed import (
    committed_files,
    committed_ids,
    drop_committed,
    finish_half_commits,
    remove_uncommitted,
)
from vdgray.stages.generate.filters import DeltaFilter, degenerate_reason
from vdgray.stages.generate.join import (
    GalleryIndex,
    ImageJoiner,
    PairsUnit,
    objects,
    plan_units,
    read_pairs_unit,
    read_side_records,
)
from vdgray.stages.generate.stage import GenerateConfig, data_files
from vdgray.stages.generate.transformers_backend import batch_seed, generator_id, pair_keys
from vdgray.stages.generate.vllm_backend import (
    RequestBuilder,
    check_servable,
    engine_plan,
    postprocess,
    processor_config_kwargs,
    sampling_params,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 20


def _pairs(tmp_path, n=10, name="part-00000.parquet", row_group_size=None):
    refs = [f"r{i}" for i in range(n)]
    tgts = [f"t{i}" for i in range(n)]
    uri = str(tmp_path / name)
    storage.write_parquet(uri, pa.table({"pair_id": [f"p{i}" for i in range(n)],
                                         "reference_id": refs, "target_id": tgts,
                                         "similarity": pa.array([0.5] * n, pa.float32()),
                                         "group_id": list(range(n))}),
                          row_group_size=row_group_size)
    return uri


def _png(image_id: str) -> bytes:
    return solid_png((len(image_id) * 40 % 255, ord(image_id[0]), 0), size=8)


def _gallery(tmp_path, ids, row_group_size=3, images=None):
    uri = str(tmp_path / "gallery.parquet")
    data = images or [_png(i) for i in ids]
    storage.write_parquet(uri, pa.table({"image_id": ids, "image": pa.array(data, pa.binary())}),
                          row_group_size=row_group_size)
    return uri


def test_generator_id_changes_with_model_export_and_sampling():
    s = {"do_sample": True, "temperature": 0.2, "top_k": 50, "max_new_tokens": 32, "seed": 0}
    a = generator_id("s3://b/vdg", {"created_at": "t1", "code_version": "v"}, s)
    assert a.startswith("vdg@") and a.endswith("/t0.2-k50-n32-s0")
    assert a == generator_id("s3://b/vdg/", {"created_at": "t1", "code_version": "v"}, s)
    assert a != generator_id("s3://b/vdg", {"created_at": "t2", "code_version": "v"}, s)
    assert a != generator_id("s3://b/vdg", {"created_at": "t1", "code_version": "v"}, {**s, "seed": 1})
    greedy = generator_id("m", {}, {**s, "do_sample": False})
    assert "/greedy-n32-s0" in greedy


def test_batch_seed_is_stable_and_depends_on_the_pairs():
    assert pair_keys(["r"], ["t"]) != pair_keys(["t"], ["r"])
    assert pair_keys(["r1"], ["t"]) != pair_keys(["r"], ["1t"])
    assert batch_seed(0, pair_keys(["r"], ["t"])) == batch_seed(0, pair_keys(["r"], ["t"]))
    assert batch_seed(0, ["a", "b"]) == batch_seed(0, ["a", "b"])
    assert batch_seed(0, ["a", "b"]) != batch_seed(0, ["a", "c"])
    assert batch_seed(0, ["a"]) != batch_seed(1, ["a"])
    assert 0 <= batch_seed(5, ["x"]) < 2**31


def test_read_pairs_adds_triplet_ids_and_honours_the_cap(tmp_path):
    a = _pairs(tmp_path, 10, "a.parquet")
    b = _pairs(tmp_path, 10, "b.parquet")
    assert plan_units([a, b], None) == [PairsUnit(a, 0, 10), PairsUnit(b, 0, 10)]
    assert plan_units([a, b], 13) == [PairsUnit(a, 0, 10), PairsUnit(b, 0, 3)]
    assert plan_units([a, b], 10) == [PairsUnit(a, 0, 10)]
    blocks = list(read_pairs_unit(PairsUnit(b, 0, 3), "gen", block_rows=2))
    assert [blk.num_rows for blk in blocks] == [2, 1]
    first = blocks[0].to_pylist()[0]
    assert first["triplet_id"] == triplet_id("r0", "t0", "gen")
    assert set(first) == {"triplet_id", "pair_id", "reference_id", "target_id"}


def test_a_large_pairs_shard_is_read_one_row_group_per_task(tmp_path):
    uri = _pairs(tmp_path, 10, row_group_size=4)
    units = plan_units([uri], None)
    assert units == [PairsUnit(uri, 0, 4), PairsUnit(uri, 1, 4), PairsUnit(uri, 2, 2)]
    assert plan_units([uri], 6) == [PairsUnit(uri, 0, 4), PairsUnit(uri, 1, 2)]
    rows = [r for u in units for blk in read_pairs_unit(u, "gen", block_rows=3)
            for r in blk.column("pair_id").to_pylist()]
    assert rows == [f"p{i}" for i in range(10)]


def test_a_resumed_read_skips_exactly_the_committed_ids(tmp_path):
    uri = _pairs(tmp_path, 10)
    ckpt = tmp_path / "_checkpoint"
    done = [triplet_id(f"r{i}", f"t{i}", "gen") for i in (0, 1, 2, 7)]
    storage.write_parquet(str(ckpt / "a.parquet"), pa.table({"triplet_id": done[:3]}))
    storage.write_parquet(str(ckpt / "b.parquet"), pa.table({"triplet_id": done[3:]}))
    # a pending (uncommitted) write's ids are not committed: Ray deletes its data file
    storage.write_parquet(str(ckpt / "c.pending.parquet"),
                          pa.table({"triplet_id": [triplet_id("r5", "t5", "gen")]}))
    assert len(committed_files(str(ckpt))) == 2
    committed = committed_ids(str(ckpt))
    assert committed.tolist() == sorted(t.encode() for t in done)
    blocks = list(read_pairs_unit(PairsUnit(uri, 0, 10), "gen", 3, committed))
    kept = [p for blk in blocks for p in blk.column("pair_id").to_pylist()]
    assert kept == ["p3", "p4", "p5", "p6", "p8", "p9"]
    assert all(blk.num_rows for blk in blocks)  # a fully committed block is not yielded
    assert committed_ids(str(tmp_path / "none")).size == 0
    table = pa.table({"triplet_id": ["x"]})
    assert drop_committed(table, None) is table


def test_a_shard_no_checkpoint_commits_is_removed_and_committed_ones_stay(tmp_path):
    """A killed job's worker that outlived its driver can write a shard after the resumed run
    cleaned up its pending checkpoints; the resume wrote those pairs again, so only the
    committed shards may stay."""
    out = tmp_path / "triplets"
    ckpt = out / "_checkpoint"
    for name in ("w1_000000.parquet", "w2_000003.parquet", "w2_000003.pending.parquet"):
        storage.write_parquet(str(ckpt / name), pa.table({"triplet_id": ["x"]}))
    data = ["w1_000000_000000.parquet", "w2_000003_000000.parquet", "w1_000001_000000.parquet"]
    for name in data:
        storage.write_parquet(str(out / name), pa.table({"triplet_id": ["x"]}))
    kept = remove_uncommitted(str(out), data, str(ckpt))
    assert kept == data[:2]
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(data[:2])
    assert remove_uncommitted(str(out), kept, str(ckpt)) == kept  # nothing more to remove


def test_a_commit_killed_between_copy_and_delete_is_finished_not_rolled_back(tmp_path):
    """S3 moves by copy then delete: a kill in between leaves the committed and the pending
    checkpoint. Ray's clean-up would delete the (complete) data file of a pending one."""
    ckpt = tmp_path / "_checkpoint"
    for name in ("w_000000.parquet", "w_000000.pending.parquet", "w_000001.pending.parquet"):
        storage.write_parquet(str(ckpt / name), pa.table({"triplet_id": ["x"]}))
    assert finish_half_commits(str(ckpt)) == 1
    assert sorted(p.name for p in ckpt.iterdir()) == ["w_000000.parquet",
                                                      "w_000001.pending.parquet"]
    assert finish_half_commits(str(ckpt)) == 0
    assert finish_half_commits(str(tmp_path / "none")) == 0


def test_plan_units_rejects_pairs_without_columns(tmp_path):
    uri = str(tmp_path / "bad.parquet")
    storage.write_parquet(uri, pa.table({"pair_id": ["p"], "reference_id": ["r"]}))
    with pytest.raises(Exception, match="target_id"):
        plan_units([uri], None)


def test_gallery_index_fetches_across_row_groups_with_a_bounded_cache(tmp_path):
    ids = [f"img{i}" for i in range(10)]
    uri = _gallery(tmp_path, ids, row_group_size=3)
    index = GalleryIndex([uri], cache_bytes=1)  # keeps one row group at a time
    assert index.fetch(["img9", "img0", "nope", "img4"]) == [
        _png("img9"), _png("img0"), None, _png("img4")]
    assert len(index._cache) == 1
    assert "img5" in index and "nope" not in index


def test_image_joiner_drops_and_records_pairs_with_missing_or_broken_images(tmp_path):
    uri = _gallery(tmp_path, ["a", "b", "c", "bad"],
                   images=[_png("a"), _png("b"), _png("c"), _png("bad")[:30]])
    joiner = ImageJoiner([uri], failures_uri=str(tmp_path / "_failures"))
    batch = {"triplet_id": objects(["t1", "t2", "t3", "t4"]),
             "pair_id": objects(["p1", "p2", "p3", "p4"]),
             "reference_id": objects(["a", "a", "zz", "c"]),
             "target_id": objects(["b", "gone", "c", "bad"])}
    out = joiner(batch)
    assert list(out["triplet_id"]) == ["t1"]
    assert list(out["reference_image"]) == [_png("a")]
    assert list(out["target_image"]) == [_png("b")]
    recs = read_side_records(str(tmp_path / "_failures"), "pair_id")
    assert [r["pair_id"] for r in recs] == ["p2", "p3", "p4"]
    assert "target image 'gone' not in the gallery" in recs[0]["reason"]
    assert "reference image 'zz' not in the gallery" in recs[1]["reason"]
    assert "target image 'bad' cannot be decoded" in recs[2]["reason"]


def test_image_joiner_reads_a_folder_gallery_by_the_ids_every_stage_gives(tmp_path):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(_png("a"))
    (root / "sub" / "b.jpg").write_bytes(_png("b"))
    (root / "gone.png").write_bytes(_png("g"))
    files = [str(root / "a.png"), str(root / "sub" / "b.jpg"), str(root / "gone.png")]
    joiner = ImageJoiner(files, folder_root=str(root))
    (root / "gone.png").unlink()  # removed after the listing
    batch = {"triplet_id": objects(["t1", "t2"]), "pair_id": objects(["p1", "p2"]),
             "reference_id": objects(["a", "a"]), "target_id": objects(["sub/b", "gone"])}
    out = joiner(batch)
    assert list(out["triplet_id"]) == ["t1"]
    assert list(out["target_image"]) == [_png("b")]
    assert "target image 'gone' not in the gallery" in joiner.failures[0]["reason"]


def test_side_records_are_deduplicated(tmp_path):
    uri = _gallery(tmp_path, ["a"])
    joiner = ImageJoiner([uri], failures_uri=str(tmp_path / "f"))
    batch = {"triplet_id": objects(["t"]), "pair_id": objects(["p"]),
             "reference_id": objects(["a"]), "target_id": objects(["x"])}
    joiner(batch)
    joiner(batch)  # a retried batch writes its failures again
    assert len(storage.list_files(str(tmp_path / "f"))) == 2
    assert len(read_side_records(str(tmp_path / "f"), "pair_id")) == 1


@pytest.mark.parametrize("text,reason", [
    ("", "empty"), ("   ", "empty"), ("red", "degenerate"), ("red red red", "degenerate"),
    ("a a a a b", "degenerate"), ("make the circle red", None)])
def test_degenerate_reason(text, reason):
    assert degenerate_reason(text, min_words=2, min_distinct_ratio=0.5) == reason


def _generated(ids, refs, texts, tgts=None):
    return pa.table({"triplet_id": ids, "pair_id": ids, "reference_id": refs,
                     "target_id": tgts or [f"t{i}" for i in range(len(ids))], "text": texts})


def test_delta_filter_counts_each_reason_and_emits_the_contract(tmp_path):
    f = DeltaFilter("gen", removals_uri=str(tmp_path / "_filtered"))
    batch = _generated(["1", "2", "3", "4", "5"], ["r", "r", "r", "s", "s"],
                       ["make it red", "Make it  red", "", "blue blue", "make it blue"])
    out = f(batch)
    assert out.schema == TRIPLETS_SCHEMA
    assert out.column("triplet_id").to_pylist() == ["1", "5"]
    assert set(out.column("source").to_pylist()) == {"pseudo"}
    assert set(out.column("generator").to_pylist()) == {"gen"}
    recs = {r["triplet_id"]: r["reason"]
            for r in read_side_records(str(tmp_path / "_filtered"), "triplet_id")}
    assert recs == {"2": "duplicate", "3": "empty", "4": "degenerate"}


def test_delta_filter_disabled_keeps_all_but_empty():
    out = DeltaFilter("g", enabled=False)(_generated(["1", "2", "3"], ["r", "r", "r"],
                                                     ["x", "x", " "]))
    assert out.column("triplet_id").to_pylist() == ["1", "2"]


def test_retriever_filter_keeps_only_targets_ranked_in_top_k():
    def rank(images, texts, targets):  # a retriever that finds the target iff the text names it
        return [0 if t in x else 99 for x, t in zip(texts, targets, strict=True)]

    f = DeltaFilter("g", rank_fn=rank, top_k=5)
    batch = _generated(["1", "2"], ["r", "s"], ["turn it into t0 now", "something else entirely"])
    batch = batch.append_column("reference_image", pa.array([b"x", b"y"], pa.binary()))
    out = f(batch)
    assert out.column("triplet_id").to_pylist() == ["1"]
    assert f.removed == [{"triplet_id": "2", "reason": "retriever"}]


def test_retriever_factory_spec_is_validated():
    with pytest.raises(ConfigError, match="module:factory"):
        DeltaFilter("g", retriever="nocolon", gallery_uri="/x")
    with pytest.raises(ConfigError, match="cannot import"):
        DeltaFilter("g", retriever="vdgray.nothing_here:f", gallery_uri="/x")


def test_vllm_request_is_the_shared_prompt_with_both_images_in_order():
    row = {"triplet_id": "t", "pair_id": "p", "reference_id": "r", "target_id": "g",
           "reference_image": solid_png((200, 0, 0), size=8),
           "target_image": solid_png((0, 0, 200), size=8), "extra": 1}
    req = RequestBuilder(sampling_params(0.2, 50, 32, True), seed=3)(row)
    assert set(req) == {"triplet_id", "pair_id", "reference_id", "target_id", "prompt",
                        "multimodal_data", "sampling_params"}
    assert req["prompt"] == build_prompt() and req["prompt"].count("<image>") == 2
    ref, tgt = req["multimodal_data"]["image"]
    assert ref.getpixel((0, 0)) == (200, 0, 0) and tgt.getpixel((0, 0)) == (0, 0, 200)
    out = postprocess({**req, "generated_text": "  make it red "})
    assert out == {"triplet_id": "t", "pair_id": "p", "reference_id": "r", "target_id": "g",
                   "text": "make it red"}
    kept = RequestBuilder(sampling_params(0.2, 50, 32, True), seed=3, keep_reference_image=True)(row)
    assert postprocess({**kept, "generated_text": "x"})["reference_image"] == row["reference_image"]
    # a describe VDG's response keeps only its change, as with the transformers backend
    described = {**req, "generated_text": "before: a red circle after: a blue circle change: make it blue"}
    assert postprocess(described, response_format="describe")["text"] == "make it blue"
    assert postprocess({**req, "generated_text": "before: a red"}, "describe")["text"] == ""


def test_vllm_sampling_is_seeded_per_row_from_its_pair_not_its_triplet_id():
    assert sampling_params(0.2, 50, 8, False) == {"max_tokens": 8, "temperature": 0.0}
    build = RequestBuilder(sampling_params(0.2, 50, 32, True), seed=3)
    row = {"triplet_id": "a", "reference_id": "r", "target_id": "t",
           "reference_image": solid_png((200, 0, 0), size=8),
           "target_image": solid_png((200, 0, 0), size=8)}
    one, again = build(row)["sampling_params"], build(dict(row))["sampling_params"]
    other = build({**row, "target_id": "u"})["sampling_params"]
    assert one == again and one["seed"] != other["seed"]
    # another export of the same weights: new triplet ids, the same samples
    assert build({**row, "triplet_id": "b"})["sampling_params"] == one
    assert one == {"max_tokens": 32, "temperature": 0.2, "top_k": 50, "seed": one["seed"]}
    greedy = RequestBuilder(sampling_params(0.2, 50, 8, False), seed=3)(row)["sampling_params"]
    assert "seed" not in greedy


def test_vllm_engine_plans_for_cpus_and_gpus():
    cpu = engine_plan(on_gpu=False, num_cpus=1.0, dtype="auto", enforce_eager=None,
                      max_model_len=None, cpu_kvcache_gb=2, cpu_threads_bind="nobind")
    assert cpu.bundle == {"CPU": 1.0, "GPU": 0}
    assert cpu.engine_kwargs == {"limit_mm_per_prompt": {"image": 2}, "dtype": "float32",
                                 "enforce_eager": True, "enable_chunked_prefill": False,
                                 "max_num_batched_tokens": 4096}
    assert cpu.env_vars == {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
    gpu = engine_plan(on_gpu=True, num_cpus=2.0, dtype="auto", enforce_eager=None,
                      max_model_len=384, cpu_kvcache_gb=1, cpu_threads_bind="auto",
                      engine_kwargs={"gpu_memory_utilization": 0.8})
    assert gpu.bundle == {"GPU": 1, "CPU": 2.0} and gpu.env_vars == {}
    assert gpu.engine_kwargs["dtype"] == "bfloat16" and gpu.engine_kwargs["max_model_len"] == 384
    assert gpu.engine_kwargs["enforce_eager"] is False
    assert gpu.engine_kwargs["gpu_memory_utilization"] == 0.8
    assert "enable_chunked_prefill" not in gpu.engine_kwargs  # CUDA generators rewind


def test_cpu_engines_never_chunk_a_seeded_prefill():
    def plan(seeded=True, model_len=512, max_model_len=None, **user):
        return engine_plan(on_gpu=False, num_cpus=1.0, dtype="auto", enforce_eager=None,
                           max_model_len=max_model_len, cpu_kvcache_gb=1,
                           cpu_threads_bind="auto", engine_kwargs=user, seeded=seeded,
                           model_len=model_len).engine_kwargs

    # the budget holds the whole context: vLLM needs that without chunking
    assert plan(model_len=8192)["max_num_batched_tokens"] == 8192
    assert plan(model_len=8192, max_model_len=1024)["max_num_batched_tokens"] == 4096
    assert plan(max_num_batched_tokens=20000)["max_num_batched_tokens"] == 20000
    with pytest.raises(ConfigError, match=r"^vllm.engine_kwargs.enable_chunked_prefill: true "
                                          r"with sampling on a CPU engine crashes vLLM"):
        plan(enable_chunked_prefill=True)
    with pytest.raises(ConfigError, match=r"^vllm.engine_kwargs.long_prefill_token_threshold"):
        plan(long_prefill_token_threshold=64)
    with pytest.raises(ConfigError, match=r"max_num_batched_tokens: 1024 is below the model's "
                                          r"context of 2048 tokens"):
        plan(model_len=2048, max_num_batched_tokens=1024)
    # greedy requests have no generator to rewind: chunking is theirs to choose
    assert plan(seeded=False, enable_chunked_prefill=True, max_num_batched_tokens=256)[
        "enable_chunked_prefill"] is True


def test_engine_failure_names_the_engines_first_error_from_its_worker_log(tmp_path):
    from vdgray.stages.generate.engine_failure import engine_error_line

    old = tmp_path / "worker-old-01-1.out"
    old.write_text("(Worker pid=1) ERROR 12-07 00:10:00 [core.py:1] ValueError: an old one\n")
    os.utime(old, (1000, 1000))
    (tmp_path / "worker-new-01-2.out").write_text(
        "INFO 12-07 00:14:38 [core.py:9] loading\n"
        "(Worker pid=28207) ERROR 12-07 00:14:39 [multiproc_executor.py:1055] Traceback (most\n"
        "(Worker pid=28207) ERROR 12-07 00:14:39 [multiproc_executor.py:1055] RuntimeError: "
        "CPU Generator does not use offset\n"
        "ERROR 12-07 00:14:39 [async_llm.py:819] vllm.v1.engine.exceptions.EngineDeadError: "
        "EngineCore encountered an issue.\n")
    (tmp_path / "worker-dead-01-3.out").write_text(
        "ERROR 12-07 00:14:39 [async_llm.py:819] vllm.v1.engine.exceptions.EngineDeadError: x\n")
    line, path = engine_error_line(str(tmp_path), since=2000)
    assert line == "RuntimeError: CPU Generator does not use offset"
    assert path.endswith("worker-new-01-2.out")
    assert engine_error_line(str(tmp_path / "none"), since=0) is None


def test_engine_failure_names_an_engine_that_failed_to_start_from_its_traceback(tmp_path):
    """An engine refused at start (here a saved config vLLM cannot read) dies in the actor's
    constructor: the .err log has a plain traceback, and pydantic says what in its 2nd line."""
    from vdgray.stages.generate.engine_failure import engine_error_line

    (tmp_path / "worker-abc-01000000-11400.err").write_text(
        "The original cause of the RayTaskError (pydantic_core._pydantic_core.ValidationError)"
        " isn't serializable.\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
        "  Value error, Unknown quantization method: gguf. Must be one of ['awq', 'fp8']\n"
        "TypeError: cannot pickle 'pydantic_core._pydantic_core.ArgsKwargs' object\n")
    line, _ = engine_error_line(str(tmp_path), since=0)
    assert line == ("pydantic_core._pydantic_core.ValidationError: 1 validation error for "
                    "ModelConfig: Value error, Unknown quantization method: gguf. Must be one "
                    "of ['awq', 'fp8']")


def test_vllm_config_mapping_builds_a_real_processor_config():
    plan = engine_plan(on_gpu=False, num_cpus=0.5, dtype="auto", enforce_eager=None,
                       max_model_len=256, cpu_kvcache_gb=1, cpu_threads_bind="auto")
    kw = processor_config_kwargs("/models/vdg", plan, batch_size=32, concurrency=2,
                                 accelerator_type=None, max_tasks_in_flight=2)
    assert kw["placement_group_config"] == {"bundles": [{"CPU": 0.5, "GPU": 0}]}
    assert kw["runtime_env"] == {"env_vars": plan.env_vars}
    assert not any(kw[k] for k in ("chat_template_stage", "tokenize_stage", "detokenize_stage",
                                   "prepare_multimodal_stage"))
    llm = pytest.importorskip("ray.data.llm")
    cfg = llm.vLLMEngineProcessorConfig(**kw)  # the documented config accepts every field
    assert cfg.batch_size == 32 and cfg.max_tasks_in_flight_per_actor == 2
    assert cfg.placement_group_config["bundles"] == [{"CPU": 0.5, "GPU": 0}]


def test_vllm_refuses_head_sizes_its_cpu_attention_cannot_serve(tmp_path):
    def model(hidden, heads, **extra):
        d = tmp_path / f"m{hidden}x{heads}-{len(extra)}"
        d.mkdir(exist_ok=True)
        text = {"hidden_size": hidden, "num_attention_heads": heads, **extra}
        (d / "config.json").write_text(json.dumps({"model_type": "llava", "text_config": text}))
        return d

    check_servable(model(128, 2), on_gpu=False)  # 64
    check_servable(model(64, 2), on_gpu=False)  # 32: the tiny demo's
    with pytest.raises(ConfigError, match=r"text_config.hidden_size / text_config.num_attention_"
                                          r"heads gives head size 16; vLLM on CPU serves only"):
        check_servable(model(32, 2), on_gpu=False)
    with pytest.raises(ConfigError, match="text_config.head_dim gives head size 48"):
        check_servable(model(96, 2, head_dim=48), on_gpu=False)
    check_servable(model(32, 2), on_gpu=True)  # GPU attention backends serve it


def test_generate_config_validation(tmp_path):
    base = {"pairs": str(tmp_path / "p"), "gallery": str(tmp_path / "g"),
            "model": str(tmp_path / "m"), "output": str(tmp_path / "o")}
    cfg = load_config(GenerateConfig, None, [f"{k}={v}" for k, v in base.items()])
    assert cfg.sampling.temperature == 0.2 and cfg.sampling.top_k == 50
    assert cfg.sampling.max_new_tokens is None and cfg.backend == "transformers"  # the model's need
    rel = load_config(GenerateConfig, None, [*(f"{k}={v}" for k, v in base.items()),
                                             "output=relative/out"])
    assert rel.output.startswith("/")
    with pytest.raises(ConfigError, match="output must differ from pairs"):
        load_config(GenerateConfig, None, [*(f"{k}={v}" for k, v in base.items()),
                                           f"output={base['pairs']}"])
    cpu_vllm = load_config(GenerateConfig, None, [*(f"{k}={v}" for k, v in base.items()),
                                                  "backend=vllm", "use_gpu=false"])
    assert cpu_vllm.backend == "vllm" and cpu_vllm.vllm.max_model_len is None
    with pytest.raises(ConfigError, match="sampling.top_k"):
        load_config(GenerateConfig, None, [*(f"{k}={v}" for k, v in base.items()),
                                           "sampling.top_k=0"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(GenerateConfig, None, [*(f"{k}={v}" for k, v in base.items()), "filters.x=1"])


def test_data_files_skip_side_folders(tmp_path):
    out = tmp_path / "o"
    for rel in ("a_000.parquet", "_checkpoint/x.parquet", "_failures/y.parquet", "b.parquet"):
        storage.write_bytes(str(out / rel), b"x")
    assert data_files(str(out)) == ["a_000.parquet", "b.parquet"]
