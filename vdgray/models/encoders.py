"""Image and text encoders over Hugging Face CLIP (and BLIP's retrieval model).

One small wrapper, `Encoder`, gives every stage the same three calls — `preprocess` (PIL
images or encoded bytes -> pixel values, with the image processor saved beside the model),
`encode_images` and `encode_texts` (L2-normalised embeddings in the joint space) — whatever
the model class underneath. Models come from local directories only (see
`vdgray.models.checkpoint` for s3://); nothing is fetched from a hub.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vdgray.data.images import decode_image
from vdgray.errors import DataFormatError

WORLD_MEAN = [0.5, 0.5, 0.5]
WORLD_STD = [0.5, 0.5, 0.5]


def clip_config(
    vocab_size: int,
    *,
    pad_id: int = 0,
    bos_id: int = 2,
    eos_id: int = 3,
    image_size: int = 64,
    patch_size: int = 8,
    hidden: int = 160,
    layers: int = 3,
    heads: int = 4,
    max_position: int = 32,
    projection_dim: int = 128,
):
    """A small `CLIPConfig` (the world CLIP and, with smaller numbers, the tiny test CLIP)."""
    from transformers import CLIPConfig

    text = dict(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=4 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=max_position,
        pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id, projection_dim=projection_dim,
    )
    vision = dict(
        image_size=image_size, patch_size=patch_size, hidden_size=hidden,
        intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=heads,
        projection_dim=projection_dim, num_channels=3,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)


def image_processor(image_size: int, mean=WORLD_MEAN, std=WORLD_STD):
    """A CLIP image processor for square `image_size` inputs (PIL backend; no torchvision)."""
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=False, image_mean=list(mean), image_std=list(std),
    )


class Encoder:
    """A joint image/text encoder: `preprocess`, `encode_images`, `encode_texts` (normalised)."""

    def __init__(self, model, tokenizer, processor, name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.processor = processor
        self.name = name
        cfg = model.config
        self.kind = "blip" if cfg.model_type.startswith("blip") else "clip"
        if self.kind == "clip":
            self.dim = int(cfg.projection_dim)
            self.max_length = int(cfg.text_config.max_position_embeddings)
            self.image_size = int(cfg.vision_config.image_size)
        else:
            self.dim = int(cfg.image_text_hidden_size)
            self.max_length = 35
            self.image_size = int(cfg.vision_config.image_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device) -> Encoder:
        self.model.to(device)
        return self

    def preprocess(self, images) -> torch.Tensor:
        """PIL images or encoded bytes -> pixel values [N, 3, H, W] float32."""
        pil = [decode_image(x) if isinstance(x, bytes | bytearray) else x for x in images]
        out = self.processor(images=pil, return_tensors="np")["pixel_values"]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Unnormalised image embeddings (for training, where the loss normalises)."""
        pixel_values = pixel_values.to(self.device)
        if self.kind == "clip":
            return self.model.get_image_features(pixel_values=pixel_values).pooler_output
        hidden = self.model.vision_model(pixel_values=pixel_values).last_hidden_state
        return self.model.vision_proj(hidden[:, 0, :])

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixel values -> L2-normalised embeddings [N, dim] (float32, on CPU)."""
        return F.normalize(self.image_features(pixel_values).float(), dim=-1).cpu()

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=self.max_length,
            return_tensors="pt",
        )

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> L2-normalised embeddings [N, dim] (float32, on CPU)."""
        enc = {k: v.to(self.device) for k, v in self.tokenize(texts).items()}
        if self.kind == "clip":
            feats = self.model.get_text_features(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).pooler_output
        else:
            hidden = self.model.text_encoder(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state
            feats = self.model.text_proj(hidden[:, 0, :])
        return F.normalize(feats.float(), dim=-1).cpu()

    def save(self, path: str | Path) -> None:
        """Write model, tokenizer and image processor as one HF directory."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        self.processor.save_pretrained(path)


def load_dir(path: str | Path, name: str | None = None) -> Encoder:
    """Load an encoder from a local HF directory (CLIPModel or BlipForImageTextRetrieval)."""
    import json

    from transformers import (
        AutoTokenizer,
        BlipForImageTextRetrieval,
        CLIPImageProcessorPil,
        CLIPModel,
    )

    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise DataFormatError(f"{path}: not a model directory (no config.json)")
    model_type = json.loads(cfg_file.read_text()).get("model_type", "")
    if model_type == "clip":
        model = CLIPModel.from_pretrained(path)
    elif model_type == "blip":
        model = BlipForImageTextRetrieval.from_pretrained(path)
    else:
        raise DataFormatError(f"{cfg_file}: model_type {model_type!r} is not an encoder (clip, blip)")
    if not (path / "preprocessor_config.json").is_file():
        raise DataFormatError(f"{path}: no preprocessor_config.json (save the image processor)")
    processor = CLIPImageProcessorPil.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return Encoder(model, tokenizer, processor, name or str(path))
