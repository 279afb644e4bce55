"""Encoders looked up by name or path: `tiny-*` entries for tests, directories for real models.

`load_encoder("tiny-clip")` builds a random-initialised tiny CLIP deterministically (fixed seed,
fixed vocabulary), so every Ray actor that builds it gets identical weights without any file.
`load_encoder("world-clip-random")` is an untrained CLIP of the synthetic world's size (for
benchmarks). Anything else is a local directory or s3:// URI of a saved model.
"""

from __future__ import annotations

import functools

import torch

from vdgray.models.encoders import Encoder, clip_config, image_processor, load_dir

WORDS = (
    "a an the of on in at with and small medium large big tiny red green blue yellow purple "
    "orange white black gray grey pink brown cyan circle square triangle star cross ring "
    "background left right top bottom center middle upper lower corner object objects shape "
    "make change it to instead is are one two three"
).split()

# name -> (image_size, patch, hidden, layers, heads, projection_dim, max_position)
TINY: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "tiny-clip": (32, 8, 32, 2, 2, 32, 32),
    "world-clip-random": (64, 8, 160, 3, 4, 128, 32),
}


def names() -> list[str]:
    """Registered model names (besides paths)."""
    return list(TINY)


def tiny_tokenizer():
    """The fixed word tokenizer of the registered random models."""
    from vdgray.models.tokenizer import build_word_tokenizer

    return build_word_tokenizer(WORDS)


def seeded_init(make, seed: int, *args):
    """`make(*args)` with torch seeded to `seed` and the global RNG restored after: the same
    random weights for the same seed in every process, whatever else has drawn numbers."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return make(*args)
    finally:
        torch.random.set_rng_state(state)


@functools.lru_cache(maxsize=4)
def _build_named(name: str, seed: int) -> tuple:
    from transformers import CLIPModel

    image_size, patch, hidden, layers, heads, proj, max_pos = TINY[name]
    tok = tiny_tokenizer()
    cfg = clip_config(
        len(tok), pad_id=tok.pad_token_id, bos_id=tok.bos_token_id, eos_id=tok.eos_token_id,
        image_size=image_size, patch_size=patch, hidden=hidden, layers=layers, heads=heads,
        max_position=max_pos, projection_dim=proj,
    )
    return seeded_init(CLIPModel, seed, cfg).state_dict(), cfg, tok


def build_named(name: str, seed: int = 0) -> Encoder:
    """A fresh registered random model (same weights for the same name and seed)."""
    from transformers import CLIPModel

    state, cfg, tok = _build_named(name, seed)
    model = CLIPModel(cfg)
    model.load_state_dict(state)
    return Encoder(model, tok, image_processor(cfg.vision_config.image_size), name)


def load_encoder(name_or_path: str) -> Encoder:
    """A registered name (`tiny-clip`, `world-clip-random`) or a local/s3:// model directory."""
    if name_or_path in TINY:
        return build_named(name_or_path)
    from vdgray.models.checkpoint import local_model_dir

    return load_dir(local_model_dir(name_or_path), name=name_or_path)


def encoder_info(name_or_path: str) -> tuple:
    """(image processor, image size, dim, name) without loading a saved model's weights: the
    directory's own image processor (`encoders.load_image_processor`) and its config."""
    if name_or_path in TINY:
        enc = build_named(name_or_path)
        return enc.processor, enc.image_size, enc.dim, name_or_path
    from transformers import AutoConfig

    from vdgray.models.checkpoint import local_model_dir
    from vdgray.models.encoders import load_image_processor, read_family

    path = local_model_dir(name_or_path)
    family, _ = read_family(path)
    processor = load_image_processor(path)
    cfg = AutoConfig.from_pretrained(path)
    return processor, int(cfg.vision_config.image_size), family.dim(cfg), name_or_path
