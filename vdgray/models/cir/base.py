"""What every CIR retriever model offers the trainer, the evaluator and the server.

A CIR model maps a query (reference image, modification text) and a candidate target image
into one space; retrieval is cosine similarity. `forward` is the single training call (so
DDP sees every parameter use): it returns normalised query and target embeddings, plus the
model's extra loss terms (TDM for BLIP). A model saves as one directory: the Hugging Face
backbone (config, weights, tokenizer, image processor — still loadable by
`vdgray.models.registry.load_encoder`), the model's own extra weights, and
`cir_config.json` naming the kind, so `vdgray.models.cir.load_cir` restores it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from vdgray.models.encoders import Encoder

CIR_CONFIG = "cir_config.json"


class CirModel(nn.Module):
    """Base class: holds the backbone `Encoder` (tokenizer, processor) and the shared API."""

    kind: str = ""
    default_temperature: float = 0.07

    def __init__(self, encoder: Encoder, settings: dict):
        super().__init__()
        self.encoder = encoder
        self.backbone = encoder.model
        self.settings = dict(settings)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def preprocess(self, images) -> torch.Tensor:
        """PIL images or encoded bytes -> pixel values."""
        return self.encoder.preprocess(images)

    def tokenize(self, texts) -> dict[str, torch.Tensor]:
        return self.encoder.tokenize(list(texts))

    def query(self, ref_pixels, input_ids, attention_mask) -> torch.Tensor:
        raise NotImplementedError

    def target(self, pixels) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ref_pixels, input_ids, attention_mask, target_pixels,
                target_keys=None) -> dict[str, torch.Tensor]:
        """Training call: {"query": [N, D], "target": [N, D]} (normalised) + extra terms."""
        return {"query": self.query(ref_pixels, input_ids, attention_mask),
                "target": self.target(target_pixels)}

    @torch.inference_mode()
    def encode_queries(self, ref_pixels: torch.Tensor, texts) -> torch.Tensor:
        """(reference pixels, texts) -> normalised query embeddings (float32, CPU)."""
        tok = self.tokenize(texts)
        q = self.query(ref_pixels.to(self.device), tok["input_ids"].to(self.device),
                       tok["attention_mask"].to(self.device))
        return q.float().cpu()

    @torch.inference_mode()
    def encode_targets(self, pixels: torch.Tensor) -> torch.Tensor:
        """Candidate pixels -> normalised target embeddings (float32, CPU)."""
        return self.target(pixels.to(self.device)).float().cpu()

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Weights that are not part of the HF backbone (saved beside it)."""
        return {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        pass

    def save(self, path: str | Path) -> None:
        """Write the model directory (backbone HF files, extra weights, cir_config.json)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.save(path)
        extra = self.extra_state()
        if extra:
            from safetensors.torch import save_file

            save_file({k: v.detach().cpu().contiguous() for k, v in extra.items()},
                      str(path / f"{self.kind}.safetensors"))
        (path / CIR_CONFIG).write_text(json.dumps({"kind": self.kind, **self.settings},
                                                  indent=1, sort_keys=True))
