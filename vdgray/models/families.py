"""The encoder families vdgray reads from a model directory, keyed by `config.json`'s model_type.

One row per family says which transformers class holds the weights, whether the model is a
dual encoder (image and text towers meeting in one space: the Combiner's backbones and the
VDG's vision towers) and where its embedding size, text length and towers live. Everything
else (image processor, tokenizer) comes from the directory through transformers' Auto
classes, so each model keeps its own preprocessing: a BLIP at 384x384, a CLIP resized and
centre-cropped to 224, a SigLIP squashed to its size with mean and std 0.5.

SigLIP covers the fixed-resolution SigLIP 2 checkpoints too (their config says `siglip`).
The NaFlex SigLIP 2 (`siglip2`) takes variable-size patch sequences, not [N, 3, H, W]
images, so it is refused with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """How to read one encoder family (see the module docstring)."""

    name: str
    model_class: str
    dual: bool
    text_modules: tuple[str, ...] = ()
    vision_modules: tuple[str, ...] = ()
    # a VDG vision tower: the LLaVA feature strategy and the tokens the tower adds (CLS)
    vdg_feature_strategy: str = "default"
    vdg_extra_tokens: int = 1

    def dim(self, cfg) -> int:
        """Size of the joint embedding."""
        if self.name == "clip":
            return int(cfg.projection_dim)
        if self.name == "siglip":
            return int(cfg.text_config.projection_size)
        return int(cfg.image_text_hidden_size)

    def max_length(self, cfg) -> int:
        """Tokens a text is padded/truncated to (BLIP's retrieval processor uses 35)."""
        return 35 if self.name == "blip" else int(cfg.text_config.max_position_embeddings)


FAMILIES: dict[str, Family] = {
    "clip": Family("clip", "CLIPModel", dual=True,
                   text_modules=("text_model", "text_projection"),
                   vision_modules=("vision_model", "visual_projection")),
    "siglip": Family("siglip", "SiglipModel", dual=True,
                     text_modules=("text_model",), vision_modules=("vision_model",),
                     vdg_feature_strategy="full", vdg_extra_tokens=0),
    "blip": Family("blip", "BlipForImageTextRetrieval", dual=False),
}

UNSUPPORTED = {
    "siglip2": "NaFlex SigLIP 2 feeds variable-size patch sequences, not fixed-size images; "
               "use a fixed-resolution SigLIP 2 checkpoint (its config says model_type 'siglip')",
}


def family_of(model_type: str, where: str) -> Family:
    """The family of `model_type`, or a DataFormatError naming `where` and what is supported."""
    from vdgray.errors import DataFormatError

    if model_type in FAMILIES:
        return FAMILIES[model_type]
    why = UNSUPPORTED.get(model_type)
    raise DataFormatError(
        f"{where}: model_type {model_type!r} is not an encoder vdgray reads "
        f"({', '.join(FAMILIES)}){': ' + why if why else ''}")


def model_class(family: Family):
    """The transformers class of `family`."""
    import transformers

    return getattr(transformers, family.model_class)
