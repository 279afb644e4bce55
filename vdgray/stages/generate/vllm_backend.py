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

CPU engines never chunk a prefill. vLLM samples a token for a request whose prefill was cut
short in a step (chunked prefill, when the step's token budget runs out) and throws it away;
for a seeded request it then rewinds the request's generator (`gen.set_offset(...)` in
`_bookkeeping_sync`), which a CPU `torch.Generator` does not have: the engine core dies
(`CPU Generator does not use offset`). Our requests are seeded per pair, and the demo's
prompts (two images of 64 tokens) fill vLLM's CPU budget of 4,096 tokens within a batch of
64, so on CPUs `engine_plan` sets `enable_chunked_prefill=False` with a token budget of at
least the model's context (vLLM requires it, so any one request fits a step whole): a step
then takes the prompts that fit whole and leaves the rest to the next. Images cannot cut a
prefill either: vLLM's encoder budget and cache equal that token budget, and a step's image
tokens are fewer than its prompt tokens. The per-pair seeds stay as they are (the same texts
for the same seed, however rows are batched). Engine kwargs that bring chunking back with
sampling on a CPU are refused before any work, not overridden: the user asked for them
by name, and a silent override would leave them wondering why they do nothing.
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
# vLLM 0.29's token budget per step on CPUs (offline engines), kept unless the context is longer
CPU_BATCHED_TOKENS = 4096
ENGINE_STAGE = "vLLMEngineStage"


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


def lm_context_len(model_dir: str | Path) -> int | None:
    """The language model's context length (what vLLM takes as max_model_len), if stated."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    for section in (cfg.get("text_config") or {}, cfg):
        if section.get("max_position_embeddings"):
            return int(section["max_position_embeddings"])
    return None


def cpu_scheduling(kwargs: dict, *, seeded: bool, model_len: int | None) -> dict:
    """`kwargs` with a CPU engine's scheduling: whole prefills only (see the module's doc);
    ConfigError for user kwargs that would cut a seeded request's prefill, or that vLLM
    would refuse at every engine start."""
    out = {"enable_chunked_prefill": False,
           "max_num_batched_tokens": max(CPU_BATCHED_TOKENS, int(model_len or 0)), **kwargs}
    key = "vllm.engine_kwargs"
    if seeded and out["enable_chunked_prefill"]:
        raise ConfigError(
            f"{key}.enable_chunked_prefill: true with sampling on a CPU engine crashes vLLM "
            "(a chunked seeded prefill rewinds a CPU generator: 'CPU Generator does not use "
            "offset'); leave it unset, or set sampling.do_sample=false")
    if seeded and int(out.get("long_prefill_token_threshold") or 0) > 0:
        raise ConfigError(
            f"{key}.long_prefill_token_threshold: cuts prefills, which crashes seeded "
            "sampling on a CPU engine ('CPU Generator does not use offset'); leave it unset")
    if (not out["enable_chunked_prefill"] and model_len
            and int(out["max_num_batched_tokens"]) < int(model_len)):
        raise ConfigError(
            f"{key}.max_num_batched_tokens: {out['max_num_batched_tokens']} is below the "
            f"model's context of {model_len} tokens (vLLM needs at least that without "
            "chunked prefill; or lower vllm.max_model_len)")
    return out


@dataclass(frozen=True)
class EnginePlan:
    """Where and how one vLLM engine runs: its Ray bundle, engine kwargs and environment."""

    bundle: dict
    engine_kwargs: dict
    env_vars: dict = field(default_factory=dict)


def engine_plan(*, on_gpu: bool, num_cpus: float, dtype: str, enforce_eager: bool | None,
                max_model_len: int | None, cpu_kvcache_gb: int, cpu_threads_bind: str,
                engine_kwargs: dict | None = None, seeded: bool = True,
                model_len: int | None = None) -> EnginePlan:
    """The engine of a GPU run (1 GPU per engine, bf16) or a CPU run (CPU bundle, float32,
    whole prefills: `cpu_scheduling`). `seeded`: requests carry a sampling seed;
    `model_len`: the model's own context (max_model_len when that is not set)."""
    kwargs: dict = {"limit_mm_per_prompt": {"image": 2}}
    if max_model_len:
        kwargs["max_model_len"] = int(max_model_len)
    # the transformers backend's dtypes: bf16 on a GPU, float32 on CPUs
    kwargs["dtype"] = dtype if dtype != "auto" else ("bfloat16" if on_gpu else "float32")
    kwargs["enforce_eager"] = (not on_gpu) if enforce_eager is None else bool(enforce_eager)
    kwargs.update(engine_kwargs or {})
    if on_gpu:
        return EnginePlan(bundle={"GPU": 1, "CPU": float(num_cpus)}, engine_kwargs=kwargs)
    kwargs = cpu_scheduling(kwargs, seeded=seeded, model_len=max_model_len or model_len)
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
                         map_num_cpus: float, response_format: str = DELTA,
                         max_engine_restarts: int = 2, **config_kwargs):
    """A Ray Data LLM processor (Dataset -> Dataset) generating deltas with vLLM. Its engine
    actor is restarted, and its batch retried, at most `max_engine_restarts` times (Ray
    Data's default is forever: an engine that dies on every batch would loop)."""
    import functools

    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    config = vLLMEngineProcessorConfig(**processor_config_kwargs(model_dir, plan, **config_kwargs))
    light = {"num_cpus": float(map_num_cpus)}
    post = functools.partial(postprocess, response_format=response_format)
    processor = build_processor(config, preprocess=request, postprocess=post,
                                preprocess_map_kwargs=light, postprocess_map_kwargs=light)
    stage = processor.get_stage_by_name(ENGINE_STAGE)
    # in place: assigning the field re-runs the stage's validator, which has already taken
    # the placement group out of its input and so would ask for a GPU per engine
    stage.map_batches_kwargs.update(max_restarts=int(max_engine_restarts),
                                    max_task_retries=int(max_engine_restarts))
    return processor
