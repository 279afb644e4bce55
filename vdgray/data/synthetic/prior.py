"""The world VDG's priors: what a pretrained LLM and a large captioned corpus would bring.

The paper's VDG starts from Vicuna-7B, which already knows how to say what differs between
two descriptions, and from a CLIP that has seen web-scale image-text pairs. The world VDG's
language model starts from random weights and sees a few hundred human triplets. Two free
sources stand in for that pretraining, both drawn from the world's own generator under seeds
disjoint from the gallery's and the CIRR splits':
- `prior_texts`: text only, two captions and the change between them, for fresh scene pairs
  (a base scene and a 1-2 attribute perturbation, either direction). No image: this is
  language, the skill of turning two descriptions into a change.
- `rendered_pairs`: rendered image pairs of fresh scene families with their two captions and
  no change: image-caption data in the two-image frame, i.e. more stage-1 data.
The VDG's training data (train/vdg_data.py) puts them in its `describe` response format.
Neither ever pairs images with a delta: that stays the few human triplets' job.
"""

from __future__ import annotations

import numpy as np

from vdgray.data.synthetic.attributes import Scene, diff_scenes, perturb, sample_scene
from vdgray.data.synthetic.language import caption, delta_text
from vdgray.data.synthetic.world import AuxRenderer, n_changes, rng_for

# Added to the world seed: prior texts and rendered pairs never reuse the world's own scenes
# streams (the world encoder's rendered pairs use +1,000,003).
PRIOR_TEXT_SEED_OFFSET = 2_000_003
RENDERED_PAIR_SEED_OFFSET = 3_000_017


def prior_scene_pairs(world_config: dict, n: int) -> list[tuple[Scene, Scene, str]]:
    """`n` (first scene, second scene, the change in words) of fresh scene pairs."""
    seed = int(world_config["seed"]) + PRIOR_TEXT_SEED_OFFSET
    p_two_obj = float(world_config["two_object_prob"])
    p_two_change = float(world_config["two_change_prob"])
    out = []
    for i in range(n):
        rng = rng_for(seed, i)
        base = sample_scene(rng, p_two_obj)
        other, _ = perturb(base, rng, n_changes(rng, p_two_change))
        a, b = (base, other) if rng.random() < 0.5 else (other, base)
        out.append((a, b, delta_text(diff_scenes(a, b), a, rng)))
    return out


def prior_texts(world_config: dict, n: int) -> list[tuple[str, str, str]]:
    """`n` (first caption, second caption, the change) of fresh scene pairs."""
    return [(caption(a), caption(b), d) for a, b, d in prior_scene_pairs(world_config, n)]


def rendered_pairs(world_config: dict, n: int) -> tuple[list, list[tuple[int, int]], list[str]]:
    """`n` rendered image pairs from fresh scene families: (PIL images, [(first image row,
    second image row)], each image's caption)."""
    family = int(world_config["aux_family_size"])
    if family < 2:
        raise ValueError("rendered pairs need aux_family_size >= 2 (a scene and its variants)")
    renderer = AuxRenderer(int(world_config["seed"]) + RENDERED_PAIR_SEED_OFFSET,
                           image_size=int(world_config["image_size"]),
                           noise=float(world_config["noise"]),
                           two_object_prob=float(world_config["two_object_prob"]),
                           two_change_prob=float(world_config["two_change_prob"]),
                           family_size=family)
    images, captions, pairs = [], [], []
    rng = np.random.default_rng(int(world_config["seed"]) + RENDERED_PAIR_SEED_OFFSET)
    f = 0
    while len(pairs) < n:
        rows = []
        for m in range(family):
            img, text = renderer.image(f * family + m)
            rows.append(len(images))
            images.append(img)
            captions.append(text)
        order = rng.permutation(family)
        for a, b in zip(order[:-1], order[1:], strict=True):  # a chain: every image used
            if len(pairs) < n:
                pairs.append((rows[int(a)], rows[int(b)]))
        f += 1
    return images, pairs, captions
