"""Batched delta generation with transformers (the CPU/default backend).

`DeltaGenerator` is a callable class in Ray Data's `map_batches` shape: it loads the VDG once
in `__init__` and maps a batch of (reference image bytes, target image bytes) to delta texts,
prompting with `build_prompt()` through the saved processor — the same template the training
used and the chat template vLLM renders. Decoding defaults are the paper's.
"""

from __future__ import annotations

import torch

from vdgray.models.vdg.prompt import (
    TEMPERATURE,
    TOP_K,
    build_prompt,
    delta_of,
    max_new_tokens_for,
    response_format,
)


def generate_deltas(model, processor, references, targets, *, do_sample: bool = True,
                    temperature: float = TEMPERATURE, top_k: int = TOP_K,
                    max_new_tokens: int | None = None, raw: bool = False) -> list[str]:
    """Delta texts for parallel lists of reference and target images (PIL or bytes): the
    model's responses, reduced to the delta its response format states (`raw`: whole)."""
    from vdgray.data.images import decode_image

    if not references:
        return []
    images = []
    for r, t in zip(references, targets, strict=True):
        images += [decode_image(x) if isinstance(x, bytes | bytearray) else x for x in (r, t)]
    batch = processor(images=images, text=[build_prompt()] * len(references), return_tensors="pt")
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    fmt = response_format(model.config)
    kwargs = {"do_sample": do_sample, "max_new_tokens": max_new_tokens_for(fmt, max_new_tokens)}
    if do_sample:
        kwargs.update(temperature=temperature, top_k=top_k)
    else:
        kwargs.update(temperature=None, top_k=None, top_p=None)
    with torch.inference_mode():
        out = model.generate(**batch, **kwargs)
    new = out[:, batch["input_ids"].shape[1]:]
    texts = processor.batch_decode(new, skip_special_tokens=True)
    return [t.strip() if raw else delta_of(t, fmt) for t in texts]


class DeltaGenerator:
    """map_batches callable: {"reference_image", "target_image"} bytes -> adds "text" (the
    delta) and, with `keep_response`, "response" (all the model wrote)."""

    def __init__(self, model_uri: str, *, do_sample: bool = True, temperature: float = TEMPERATURE,
                 top_k: int = TOP_K, max_new_tokens: int | None = None, seed: int = 0,
                 device: str | None = None, keep_response: bool = False):
        from vdgray.models.checkpoint import local_model_dir
        from vdgray.models.vdg.build import load_trained

        self.model, self.processor = load_trained(local_model_dir(model_uri))
        self.model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.kwargs = {"do_sample": do_sample, "temperature": temperature, "top_k": top_k,
                       "max_new_tokens": max_new_tokens}
        self.keep_response = keep_response
        self.format = response_format(self.model.config)
        torch.manual_seed(seed)

    def __call__(self, batch: dict) -> dict:
        responses = generate_deltas(self.model, self.processor, list(batch["reference_image"]),
                                    list(batch["target_image"]), raw=True, **self.kwargs)
        out = {**batch, "text": [delta_of(r, self.format) for r in responses]}
        if self.keep_response:
            out["response"] = responses
        return out
