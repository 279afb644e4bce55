"""The generator id and the transformers backend of `vdgray generate`.

`generator_id` names what produced a pseudo triplet: the VDG (its URI and its identity,
`models.vdg.identity`: the `vdg-model` manifest's `created_at` and code version, or a
hub checkpoint's own fingerprint) plus the sampling parameters.
It feeds `triplet_id`, so a re-run with the same model and sampling reproduces the same ids
(and resumes), while a new export or other sampling gives new ids, never silent collisions.

`TransformersGenerator` is the default backend: a callable class for `map_batches` on an
`ActorPoolStrategy` pool. It loads the exported VDG once per actor (s3:// copied once per
node), pads on the left (decoder-only batched generation), generates with the KV cache in
micro-batches of `batch_size`, and seeds each micro-batch from its (reference, target) pairs,
not from the triplet ids: a retried batch samples the same deltas, and so does a re-run of
the same model stored elsewhere or exported again (the triplet id names the export's URI and
time, so seeding from it made every demo run sample other deltas from identical weights).
"""

from __future__ import annotations

import hashlib
import json
import zlib

import numpy as np

from vdgray.models.vdg.prompt import TEMPERATURE, TOP_K

IMAGE_COLUMNS = ("reference_image", "target_image")


def generator_id(model_uri: str, identity: dict, sampling: dict) -> str:
    """`<model name>@<10 hex digest>/t<temperature>-k<top_k>-n<max_new_tokens>-s<seed>`;
    `identity` is `models.vdg.identity.vdg_identity(model_uri)`."""
    key = {"model": str(model_uri).rstrip("/"), **identity, "sampling": sampling}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    name = str(model_uri).rstrip("/").rsplit("/", 1)[-1] or "vdg"
    s = sampling
    mode = (f"t{s['temperature']:g}-k{s['top_k']}" if s.get("do_sample", True) else "greedy")
    return f"{name}@{digest}/{mode}-n{s['max_new_tokens']}-s{s['seed']}"


def batch_seed(seed: int, keys) -> int:
    """A 31-bit seed from the config seed and a batch's `pair_keys` (stable across retries)."""
    h = zlib.crc32(str(seed).encode())
    for k in keys:
        h = zlib.crc32(str(k).encode(), h)
    return h & 0x7FFFFFFF


def pair_keys(references, targets) -> list[str]:
    """One sampling key per row: its reference and target ids (what the delta is about)."""
    return [f"{r}\x1f{t}" for r, t in zip(references, targets, strict=True)]


class TransformersGenerator:
    """map_batches callable: rows with reference_image/target_image bytes -> the same rows
    without the image columns (the reference kept for a retriever filter) and with `text`."""

    def __init__(self, model_uri: str, *, batch_size: int = 16, do_sample: bool = True,
                 temperature: float = TEMPERATURE, top_k: int = TOP_K,
                 max_new_tokens: int | None = None, seed: int = 0, device: str | None = None,
                 num_threads: int | None = None, keep_reference_image: bool = False):
        import torch

        from vdgray.models.checkpoint import local_model_dir
        from vdgray.models.vdg.build import load_trained

        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else None
        self.model, self.processor = load_trained(local_model_dir(model_uri), dtype=dtype)
        self.model.to(self.device)
        # Decoder-only batched generation: pad on the left so every row's last prompt token
        # sits at the same position and new tokens follow it directly.
        self.processor.tokenizer.padding_side = "left"
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop = ("target_image",) if keep_reference_image else IMAGE_COLUMNS
        self.kwargs = {"do_sample": do_sample, "temperature": temperature, "top_k": top_k,
                       "max_new_tokens": max_new_tokens}

    def generate(self, references: list, targets: list, keys: list) -> list[str]:
        """Deltas for parallel lists of image bytes, in micro-batches of `batch_size`."""
        import torch

        from vdgray.models.vdg.generate import generate_deltas

        texts: list[str] = []
        for start in range(0, len(references), self.batch_size):
            sl = slice(start, start + self.batch_size)
            torch.manual_seed(batch_seed(self.seed, keys[sl]))
            texts += generate_deltas(self.model, self.processor, references[sl], targets[sl],
                                     **self.kwargs)
        return texts

    def __call__(self, batch: dict) -> dict:
        refs = [bytes(x) for x in batch["reference_image"]]
        tgts = [bytes(x) for x in batch["target_image"]]
        keys = pair_keys(batch["reference_id"], batch["target_id"])
        texts = self.generate(refs, tgts, keys)
        out = {k: v for k, v in batch.items() if k not in self.drop}
        out["text"] = np.array(texts, dtype=object)
        return out
