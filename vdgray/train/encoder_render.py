"""Freshly rendered pretraining pairs for the world encoder, and its zero-shot attribute probe.

A ViT trained from scratch on the few thousand gallery images learns colour and background
but not object shape (a linear probe read shape at 0.2-0.37, chance 0.14), and every delta
names its object by shape. Shape is learnable, it just needs far more images than a gallery
holds (a supervised probe of the same ViT on fresh renders: 0.33 after 32k images, 0.78 after
83k). So `train-encoder --rendered-pairs N` adds N new image-caption pairs to every epoch,
drawn from the world's own auxiliary-scene distribution under a different seed: the world's
stand-in for the web-scale corpus a real CLIP is pretrained on. They are never gallery, CIRR
or truth images. Batches keep each scene family together (a base scene and its 1-2 attribute
perturbations), so every batch holds captions that differ in a single word: hard negatives.

`zero_shot_attributes` measures what the deltas need: for held-out images, does the image
match its own caption better than the same caption with object 0's shape (colour, size) or
the background swapped for each other value?
"""

from __future__ import annotations

import numpy as np
import torch

from vdgray.data.synthetic.attributes import VOCAB, Scene, apply_change, validate_scene
from vdgray.data.synthetic.language import caption
from vdgray.data.synthetic.world import AuxRenderer

# Added to the world seed so rendered pretraining scenes never repeat the gallery's.
PRETRAIN_SEED_OFFSET = 1_000_003
RENDERER_KEYS = ("seed", "image_size", "noise", "two_object_prob", "two_change_prob",
                 "aux_family_size")
PROBED = ("shape", "colour", "size", "background")


def pretrain_renderer(world_config: dict) -> AuxRenderer:
    """An AuxRenderer with the world's settings (`RENDERER_KEYS`, checked by the driver) and a
    seed disjoint from the gallery's."""
    return AuxRenderer(int(world_config["seed"]) + PRETRAIN_SEED_OFFSET,
                       image_size=int(world_config["image_size"]), noise=float(world_config["noise"]),
                       two_object_prob=float(world_config["two_object_prob"]),
                       two_change_prob=float(world_config["two_change_prob"]),
                       family_size=int(world_config["aux_family_size"]))


def rendered_batches(renderer: AuxRenderer, *, per_epoch: int, batch: int, epoch: int,
                     rank: int, world: int) -> list[range]:
    """This rank's batches of aux indices for `epoch`: consecutive runs (whole families)."""
    n_batches = per_epoch // (batch * world)
    first = epoch * n_batches * batch * world
    return [range(first + (s * world + rank) * batch, first + (s * world + rank + 1) * batch)
            for s in range(n_batches)]


def render_batch(renderer: AuxRenderer, indices) -> tuple[list, list[str]]:
    """PIL images and captions of aux `indices`."""
    pairs = [renderer.image(int(i)) for i in indices]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def vocabulary_captions(renderer: AuxRenderer, n: int = 2000) -> list[str]:
    """Captions of `n` rendered scenes (no pixels): with the gallery's, they fix the tokenizer."""
    return [caption(renderer.scene(i)) for i in range(n)]


def _variants(scene: Scene, attribute: str) -> list[str]:
    """Captions of `scene` with object 0's `attribute` (or the background) set to every value,
    in VOCAB order; the true caption is among them."""
    obj = None if attribute == "background" else 0
    return [caption(apply_change(scene, obj, attribute, v)) for v in VOCAB[attribute]]


def world_scenes(attributes_json: list[str]) -> list[Scene] | None:
    """The scenes behind a captions table's `attributes`, or None when they are not world
    scenes (a hand-made gallery): then there is nothing to probe."""
    try:
        scenes = [Scene.from_json(a) for a in attributes_json]
        for scene in scenes:
            validate_scene(scene)
        return scenes
    except (ValueError, KeyError, TypeError):
        return None


@torch.no_grad()
def zero_shot_attributes(encoder, image_emb: torch.Tensor, scenes: list[Scene] | None,
                         attributes=PROBED) -> dict[str, float]:
    """{"zs_<attribute>": accuracy} of picking the true value among its caption variants, for
    images embedded as `image_emb` (L2-normalised, row i shows scenes[i]); {} without scenes."""
    if not scenes:
        return {}
    out: dict[str, float] = {}
    for attr in attributes:
        values = VOCAB[attr]
        texts = [t for s in scenes for t in _variants(s, attr)]
        txt = encoder.encode_texts(texts).view(len(scenes), len(values), -1)
        pick = (txt * image_emb[:, None, :]).sum(-1).argmax(1).numpy()
        truth = np.array([values.index(s.background if attr == "background" else s.objects[0].get(attr))
                          for s in scenes])
        out[f"zs_{attr}"] = float((pick == truth).mean())
    return out
