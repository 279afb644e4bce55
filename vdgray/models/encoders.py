"""Image and text encoders over Hugging Face CLIP, SigLIP and BLIP's retrieval model.

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
    """A joint image/text encoder: `preprocess`, `encode_images`, `encode_texts` (normalised).

    `family` (vdgray.models.families) says what the model is: `kind` is its name (clip,
    siglip, blip) and `dual` whether its image and text towers meet in one space.
    """

    def __init__(self, model, tokenizer, processor, name: str):
        from vdgray.models.families import family_of

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.processor = processor
        self.name = name
        cfg = model.config
        self.family = family_of(cfg.model_type, name)
        self.kind = self.family.name
        self.dual = self.family.dual
        self.dim = self.family.dim(cfg)
        self.max_length = self.family.max_length(cfg)
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
        if self.dual:
            return self.model.get_image_features(pixel_values=pixel_values).pooler_output
        hidden = self.model.vision_model(pixel_values=pixel_values).last_hidden_state
        return self.model.vision_proj(hidden[:, 0, :])

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixel values -> L2-normalised embeddings [N, dim] (float32, on CPU)."""
        return F.normalize(self.image_features(pixel_values).float(), dim=-1).cpu()

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """input_ids and attention_mask, padded to the model's text length. A tokenizer that
        gives no mask (SigLIP's: the model was trained unmasked on padded text) gets all ones,
        which is what the model does without one."""
        out = dict(self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=self.max_length,
            return_tensors="pt",
        ))
        if "attention_mask" not in out:
            out["attention_mask"] = torch.ones_like(out["input_ids"])
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> L2-normalised embeddings [N, dim] (float32, on CPU)."""
        enc = {k: v.to(self.device) for k, v in self.tokenize(texts).items()}
        if self.dual:
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


def read_family(path: Path):
    """(Family, config dict) of a model directory, from its config.json alone."""
    import json

    from vdgray.models.families import family_of

    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise DataFormatError(f"{path}: not a model directory (no config.json)")
    try:
        cfg = json.loads(cfg_file.read_text())
    except ValueError as e:
        raise DataFormatError(f"{cfg_file}: not valid JSON ({e})") from None
    return family_of(cfg.get("model_type", ""), str(cfg_file)), cfg


def load_image_processor(path: Path):
    """The directory's own image processor, through `AutoImageProcessor`: from
    `preprocessor_config.json` (the hub's files) or transformers 5's `processor_config.json`
    (a processor's `save_pretrained` nests the image processor there)."""
    import json

    from transformers import AutoImageProcessor

    nested = path / "processor_config.json"
    try:
        has_nested = nested.is_file() and "image_processor" in json.loads(nested.read_text())
    except ValueError as e:
        raise DataFormatError(f"{nested}: not valid JSON ({e})") from None
    if not (path / "preprocessor_config.json").is_file() and not has_nested:
        raise DataFormatError(
            f"{path}: no image processor (expected preprocessor_config.json, or "
            "processor_config.json with an 'image_processor' entry, as the model's processor's "
            "save_pretrained writes them)")
    try:
        return AutoImageProcessor.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        raise DataFormatError(f"{path}: cannot load the image processor ({e})") from None


def load_tokenizer(path: Path):
    """The directory's own tokenizer, through `AutoTokenizer`."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except ImportError as e:  # a slow tokenizer whose library is missing (sentencepiece)
        raise DataFormatError(f"{path}: the tokenizer needs a library not installed ({e})") from None
    except (OSError, ValueError, TypeError) as e:
        raise DataFormatError(f"{path}: cannot load the tokenizer (expected the tokenizer files "
                              f"save_pretrained writes: {e})") from None


def load_dir(path: str | Path, name: str | None = None) -> Encoder:
    """Load an encoder from a local HF directory of a family in `vdgray.models.families`
    (CLIPModel, SiglipModel, BlipForImageTextRetrieval), with its own image processor and
    tokenizer."""
    from vdgray.models.families import model_class

    path = Path(path)
    family, _ = read_family(path)
    processor = load_image_processor(path)
    tokenizer = load_tokenizer(path)
    model = model_class(family).from_pretrained(path)
    return Encoder(model, tokenizer, processor, name or str(path))
