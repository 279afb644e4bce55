"""The vLLM backend of `vdgray generate`, through Ray Data LLM (GPU clusters).

`ray.data.llm.build_processor(vLLMEngineProcessorConfig(...))` turns a Dataset of request
rows into generated rows. Each request is the shared VDG prompt as ONE chat message whose
two image parts are the reference and the target (OpenAI `image_url` parts with PNG/JPEG
data URIs, which vLLM's chat parser accepts); the exported directory's processor carries
the chat template that renders them back to exactly `build_prompt()`. Sampling parameters
are per row (`sampling_params`), the engine is told `limit_mm_per_prompt={"image": 2}`.
Columns other than the images ride through to `postprocess`, so `triplet_id` reaches the
sink as job-level checkpointing requires.

The request and config mapping are plain functions, unit-tested without vLLM; the engine
itself only runs where vLLM and a GPU are installed (tests/gpu).
"""

from __future__ import annotations

import base64

from vdgray.models.vdg.prompt import prompt_parts

PASS_COLUMNS = ("triplet_id", "pair_id", "reference_id", "target_id")


def _mime(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def data_uri(data: bytes) -> str:
    """An image as a base64 data URI (what an OpenAI `image_url` part carries)."""
    return f"data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def chat_request(reference: bytes, target: bytes) -> list[dict]:
    """The VDG prompt as one user message: the shared text parts, the two images in order."""
    images = iter((reference, target))
    content = []
    for part in prompt_parts():
        if part["type"] == "image":
            content.append({"type": "image_url", "image_url": {"url": data_uri(next(images))}})
        else:
            content.append(dict(part))
    return [{"role": "user", "content": content}]


def sampling_params(temperature: float, top_k: int, max_new_tokens: int, do_sample: bool,
                    seed: int | None = None) -> dict:
    """vLLM SamplingParams fields for the configured decoding (greedy = temperature 0)."""
    params = {"max_tokens": int(max_new_tokens)}
    if do_sample:
        params.update(temperature=float(temperature), top_k=int(top_k))
    else:
        params.update(temperature=0.0)
    if seed is not None:
        params["seed"] = int(seed)
    return params


class RequestBuilder:
    """Row preprocess for build_processor: pair row with image bytes -> vLLM request row."""

    def __init__(self, sampling: dict):
        self.sampling = dict(sampling)

    def __call__(self, row: dict) -> dict:
        out = {k: row[k] for k in PASS_COLUMNS if k in row}
        out["messages"] = chat_request(bytes(row["reference_image"]), bytes(row["target_image"]))
        out["sampling_params"] = dict(self.sampling)
        return out


def postprocess(row: dict) -> dict:
    """Engine output row -> the generated-rows shape the filter stage expects."""
    out = {k: row[k] for k in PASS_COLUMNS if k in row}
    out["text"] = str(row.get("generated_text") or "").strip()
    return out


def processor_config_kwargs(model_dir: str, *, batch_size: int, concurrency: int,
                            accelerator_type: str | None, max_model_len: int,
                            engine_kwargs: dict | None = None) -> dict:
    """Keyword arguments of `vLLMEngineProcessorConfig` for an exported VDG directory."""
    engine = {"limit_mm_per_prompt": {"image": 2}, "max_model_len": int(max_model_len),
              **(engine_kwargs or {})}
    kwargs = {
        "model_source": str(model_dir),
        "engine_kwargs": engine,
        "batch_size": int(batch_size),
        "concurrency": int(concurrency),
        "prepare_multimodal_stage": {
            "enabled": True,
            "model_config_kwargs": {"limit_mm_per_prompt": {"image": 2}},
            "chat_template_content_format": "openai",
        },
        "chat_template_stage": True,
        "tokenize_stage": True,
        "detokenize_stage": True,
    }
    if accelerator_type:
        kwargs["accelerator_type"] = accelerator_type
    return kwargs


def build_vllm_processor(model_dir: str, sampling: dict, **config_kwargs):
    """A Ray Data LLM processor (Dataset -> Dataset) generating deltas with vLLM."""
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    config = vLLMEngineProcessorConfig(**processor_config_kwargs(model_dir, **config_kwargs))
    return build_processor(config, preprocess=RequestBuilder(sampling), postprocess=postprocess)
