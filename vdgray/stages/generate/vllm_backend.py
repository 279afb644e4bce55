"""The vLLM backend of `vdgray generate`, through Ray Data LLM, on GPUs or on CPUs.

`ray.data.llm.build_processor(vLLMEngineProcessorConfig(...))` turns a Dataset of request
rows into generated rows. Each request is the exact prompt the transformers backend and the
training use (`build_prompt()`, two image placeholders) plus the two decoded images as vLLM
`multimodal_data`, so Ray Data LLM's chat-template, tokenize and detokenize stages (one actor
pool each) are not needed: the engine tokenizes, runs the LLaVA processor on the images and
detokenizes itself. Sampling is per row, seeded from the config seed and the row's
(reference, target) pair (`batch_seed` of its `pair_keys`), so a delta does not depend on
how rows were batched or retried, nor on where the export is stored.

Ray Data LLM gives each engine a bundle of one GPU unless told otherwise; `engine_plan`
gives it CPU bundles (`placement_group_config`) where no GPU is used, with vLLM's CPU settings
(KV cache space, thread binding) as the engine actor's environment. Columns other than the
request ride through the engine to `postprocess`, so `triplet_id` reaches the sink as
job-level checkpointing requires, and the reference image can reach a retriever filter.

vLLM's CPU attention serves only some head sizes; `check_servable` refuses a model whose
language model has another one before any work starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vdgray.errors import ConfigError
from vdgray.layout import PAIR_COLUMNS, TRIPLET_ID
from vdgray.models.vdg.prompt import DELTA, build_prompt, delta_of
from vdgray.stages.generate.transformers_backend import batch_seed, pair_keys

PASS_COLUMNS = (TRIPLET_ID, *PAIR_COLUMNS)
# vLLM 0.29's CPU attention backend (cpu_attn): the head sizes it has kernels for
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)


def sampling_params(temperature: float, top_k: int, max_new_tokens: int, do_sample: bool) -> dict:
    """vLLM SamplingParams fields for the configured decoding (greedy = temperature 0)."""
    params: dict = {"max_tokens": int(max_new_tokens)}
    if do_sample:
        params.update(temperature=float(temperature), top_k=int(top_k))
    else:
        params.update(temperature=0.0)
    return params


class RequestBuilder:
    """Row preprocess for build_processor: a pair row with image bytes -> a vLLM request row."""

    def __init__(self, sampling: dict, seed: int, keep_reference_image: bool = False):
        self.sampling = dict(sampling)
        self.seed = int(seed)
        self.keep_reference_image = bool(keep_reference_image)
        self.prompt = build_prompt()

    def __call__(self, row: dict) -> dict:
        from vdgray.data.images import decode_image

        out = {k: row[k] for k in PASS_COLUMNS if k in row}
        reference = bytes(row["reference_image"])
        out["prompt"] = self.prompt
        out["multimodal_data"] = {"image": [decode_image(reference),
                                            decode_image(bytes(row["target_image"]))]}
        params = dict(self.sampling)
        if params.get("temperature", 0.0) > 0.0:
            params["seed"] = batch_seed(self.seed, pair_keys([row["reference_id"]],
                                                             [row["target_id"]]))
        out["sampling_params"] = params
        if self.keep_reference_image:
            out["reference_image"] = reference
        return out


def postprocess(row: dict, response_format: str = DELTA) -> dict:
    """Engine output row -> the generated-rows shape the filter stage expects (the delta the
    response states, as the transformers backend keeps it)."""
    out = {k: row[k] for k in (*PASS_COLUMNS, "reference_image") if k in row}
    out["text"] = delta_of(str(row.get("generated_text") or ""), response_format)
    return out


def lm_head_size(model_dir: str | Path) -> tuple[int, str]:
    """(attention head size of the VDG's language model, the config keys it comes from)."""
    path = Path(model_dir) / "config.json"
    cfg = json.loads(path.read_text())
    text = cfg.get("text_config") or {}
    if text.get("head_dim"):
        return int(text["head_dim"]), f"{path}: text_config.head_dim"
    return (int(text["hidden_size"]) // int(text["num_attention_heads"]),
            f"{path}: text_config.hidden_size / text_config.num_attention_heads")


def transformers5_weight_names(model_dir: str | Path) -> list[str]:
    """The weight files (names only, headers read) that hold LLaVA weights under transformers
    5's own module names (`model.vision_tower.*`, ...) instead of the llava-hf names vLLM's
    LLaVA loader reads (`vision_tower.vision_model.*`, ...): what a plain `save_pretrained`
    of a LLaVA in transformers 5 writes. `vdg export` and every vdgray VDG use the llava-hf
    names (`models.vdg.build.save_vdg`), and so do the llava-hf checkpoints on the hub."""
    from safetensors import safe_open

    from vdgray.models.vdg.build import LLAVA_HF_PREFIXES

    bad = []
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            if any(not k.startswith(LLAVA_HF_PREFIXES) for k in st.keys()):
                bad.append(f.name)
    return bad


def check_servable(model_dir: str | Path, *, on_gpu: bool) -> None:
    """Refuse (ConfigError naming the file or keys) a model vLLM cannot load, or whose
    attention vLLM's CPU build cannot serve."""
    bad = transformers5_weight_names(model_dir)
    if bad:
        raise ConfigError(
            f"{Path(model_dir) / bad[0]}: LLaVA weights under transformers 5's module names "
            "(model.vision_tower.*, model.language_model.*), which vLLM's LLaVA loader does not "
            "read; `vdgray vdg export --set model=DIR --set output=NEW` rewrites them in the "
            "llava-hf layout, or use backend=transformers")
    if on_gpu:
        return
    size, keys = lm_head_size(model_dir)
    if size not in CPU_HEAD_SIZES:
        raise ConfigError(
            f"{keys} gives head size {size}; vLLM on CPU serves only head sizes "
            f"{', '.join(map(str, CPU_HEAD_SIZES))} (use backend=transformers, or a model whose "
            "hidden size / heads is one of them: vdg-assemble lm_hidden / lm_heads)")


@dataclass(frozen=True)
class EnginePlan:
    """Where and how one vLLM engine runs: its Ray bundle, engine kwargs and environment."""

    bundle: dict
    engine_kwargs: dict
    env_vars: dict = field(default_factory=dict)


def engine_plan(*, on_gpu: bool, num_cpus: float, dtype: str, enforce_eager: bool | None,
                max_model_len: int | None, cpu_kvcache_gb: int, cpu_threads_bind: str,
                engine_kwargs: dict | None = None) -> EnginePlan:
    """The engine of a GPU run (1 GPU per engine, bf16) or a CPU run (CPU bundle, float32)."""
    kwargs: dict = {"limit_mm_per_prompt": {"image": 2}}
    if max_model_len:
        kwargs["max_model_len"] = int(max_model_len)
    # the transformers backend's dtypes: bf16 on a GPU, float32 on CPUs
    kwargs["dtype"] = dtype if dtype != "auto" else ("bfloat16" if on_gpu else "float32")
    kwargs["enforce_eager"] = (not on_gpu) if enforce_eager is None else bool(enforce_eager)
    kwargs.update(engine_kwargs or {})
    if on_gpu:
        return EnginePlan(bundle={"GPU": 1, "CPU": float(num_cpus)}, engine_kwargs=kwargs)
    env = {"VLLM_CPU_KVCACHE_SPACE": str(int(cpu_kvcache_gb)),
           "VLLM_CPU_OMP_THREADS_BIND": cpu_threads_bind}
    # GPU 0 said explicitly: Ray Data LLM's default engine bundle holds one GPU
    return EnginePlan(bundle={"CPU": float(num_cpus), "GPU": 0}, engine_kwargs=kwargs, env_vars=env)


def processor_config_kwargs(model_dir: str, plan: EnginePlan, *, batch_size: int,
                            concurrency: int, accelerator_type: str | None,
                            max_tasks_in_flight: int | None = None) -> dict:
    """Keyword arguments of `vLLMEngineProcessorConfig` for an exported VDG directory."""
    kwargs = {
        "model_source": str(model_dir),
        "engine_kwargs": dict(plan.engine_kwargs),
        "batch_size": int(batch_size),
        "concurrency": int(concurrency),
        "placement_group_config": {"bundles": [dict(plan.bundle)]},
        # the prompt is built by RequestBuilder; the engine tokenizes and detokenizes
        "chat_template_stage": False,
        "tokenize_stage": False,
        "detokenize_stage": False,
        "prepare_multimodal_stage": False,
        "log_engine_metrics": False,
    }
    if max_tasks_in_flight:
        # Ray Data's default (2 x max_concurrent_batches) sends blocks as fast as it can: they
        # then finish, and commit, together near the end of a short run
        kwargs["max_tasks_in_flight_per_actor"] = int(max_tasks_in_flight)
    if plan.env_vars:
        kwargs["runtime_env"] = {"env_vars": dict(plan.env_vars)}
    if accelerator_type:
        kwargs["accelerator_type"] = accelerator_type
    return kwargs


def build_vllm_processor(model_dir: str, plan: EnginePlan, request: RequestBuilder, *,
                         map_num_cpus: float, response_format: str = DELTA, **config_kwargs):
    """A Ray Data LLM processor (Dataset -> Dataset) generating deltas with vLLM."""
    import functools

    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    config = vLLMEngineProcessorConfig(**processor_config_kwargs(model_dir, plan, **config_kwargs))
    light = {"num_cpus": float(map_num_cpus)}
    post = functools.partial(postprocess, response_format=response_format)
    return build_processor(config, preprocess=request, postprocess=post,
                           preprocess_map_kwargs=light, postprocess_map_kwargs=light)
