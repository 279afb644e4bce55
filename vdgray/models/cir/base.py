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

    # Whether `image_features` stays constant while this model trains (its vision side is
    # frozen), so a trainer may compute it once per image instead of once per step.
    frozen_image_features: bool = False

    def image_features(self, pixels) -> torch.Tensor:
        """What the model reads from images (both query and target side start from it)."""
        raise NotImplementedError

    def query_from(self, ref_features, input_ids, attention_mask) -> torch.Tensor:
        raise NotImplementedError

    def target_from(self, features) -> torch.Tensor:
        raise NotImplementedError

    def query(self, ref_pixels, input_ids, attention_mask) -> torch.Tensor:
        return self.query_from(self.image_features(ref_pixels), input_ids, attention_mask)

    def target(self, pixels) -> torch.Tensor:
        return self.target_from(self.image_features(pixels))

    def forward(self, ref_pixels=None, input_ids=None, attention_mask=None, target_pixels=None,
                target_keys=None, ref_features=None, target_features=None
                ) -> dict[str, torch.Tensor]:
        """Training call: {"query": [N, D], "target": [N, D]} (normalised) + extra terms.
        Either pixels or precomputed `image_features` (`frozen_image_features` models)."""
        ref = ref_features if ref_features is not None else self.image_features(ref_pixels)
        tgt = (target_features if target_features is not None
               else self.image_features(target_pixels))
        return self.forward_features(ref, input_ids, attention_mask, tgt, target_keys)

    def forward_features(self, ref_features, input_ids, attention_mask, target_features,
                         target_keys=None) -> dict[str, torch.Tensor]:
        return {"query": self.query_from(ref_features, input_ids, attention_mask),
                "target": self.target_from(target_features)}

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
