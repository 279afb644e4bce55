"""Rendered pretraining pairs for the world encoder, and the zero-shot attribute probe."""

from __future__ import annotations

import numpy as np
import torch

from vdgray.data.synthetic.attributes import VOCAB, Scene, SceneObject
from vdgray.data.synthetic.language import caption
from vdgray.data.synthetic.world import AuxRenderer
from vdgray.train.encoder_render import (
    PRETRAIN_SEED_OFFSET,
    pretrain_renderer,
    render_batch,
    rendered_batches,
    world_scenes,
    zero_shot_attributes,
)

WORLD = {"seed": 0, "image_size": 64, "noise": 0.5, "two_object_prob": 0.3,
         "two_change_prob": 0.3, "aux_family_size": 4}


def test_rendered_batches_are_disjoint_over_ranks_and_epochs_and_keep_families_whole():
    r = pretrain_renderer(WORLD)
    seen = set()
    for epoch in range(3):
        for rank in range(2):
            batches = rendered_batches(r, per_epoch=100, batch=8, epoch=epoch, rank=rank, world=2)
            assert len(batches) == 6  # 100 // (8 * 2)
            for b in batches:
                assert len(b) == 8 and b.start % 4 == 0  # two whole families of 4
                assert not seen & set(b)
                seen |= set(b)
    assert rendered_batches(r, per_epoch=0, batch=8, epoch=0, rank=0, world=1) == []


def test_pretraining_scenes_differ_from_the_gallery_and_are_deterministic():
    r = pretrain_renderer(WORLD)
    gallery = AuxRenderer(0)
    assert r.seed == PRETRAIN_SEED_OFFSET
    assert [r.scene(i) for i in range(40)] != [gallery.scene(i) for i in range(40)]
    images, captions = render_batch(r, range(4, 8))
    again, _ = render_batch(pretrain_renderer(WORLD), range(4, 8))
    assert [np.asarray(a).tobytes() for a in images] == [np.asarray(b).tobytes() for b in again]
    assert captions == [caption(r.scene(i)) for i in range(4, 8)]
    assert images[0].size == (64, 64)


class CaptionOracle:
    """An 'encoder' that embeds a scene's image and its exact caption to the same one-hot."""

    def __init__(self, scenes):
        self.index = {caption(s): i for i, s in enumerate(scenes)}
        self.n = len(scenes) + 1

    def encode_images(self, pixels):
        return torch.nn.functional.one_hot(pixels.long().flatten(), self.n).float()

    def encode_texts(self, texts):
        return torch.nn.functional.one_hot(
            torch.tensor([self.index.get(t, self.n - 1) for t in texts]), self.n).float()


def test_zero_shot_probe_is_perfect_for_an_exact_encoder_and_chance_for_a_blind_one():
    scenes = [Scene(bg, (SceneObject(sh, "red", "small", "center"),))
              for bg in VOCAB["background"][:2] for sh in VOCAB["shape"]]
    pixels = torch.arange(len(scenes)).float()[:, None]
    attrs = [s.to_json() for s in scenes]
    oracle = CaptionOracle(scenes)
    exact = zero_shot_attributes(oracle, oracle.encode_images(pixels), world_scenes(attrs))
    assert exact == {"zs_shape": 1.0, "zs_colour": 1.0, "zs_size": 1.0, "zs_background": 1.0}

    class Blind(CaptionOracle):
        def encode_images(self, pixels):
            return torch.zeros(len(pixels), self.n)

    blind_enc = Blind(scenes)
    blind = zero_shot_attributes(blind_enc, blind_enc.encode_images(pixels), world_scenes(attrs))
    # every candidate scores 0, argmax picks the first value: right only where it is the truth
    assert blind["zs_shape"] == 1 / len(VOCAB["shape"])


def test_probe_skips_galleries_without_world_scenes():
    assert world_scenes(["{}"]) is None
    assert world_scenes(['{"background": "gray", "objects": [{"shape": "blob", "colour": "red",'
                         ' "size": "small", "position": "center"}]}']) is None
    assert zero_shot_attributes(None, torch.zeros(1, 1), world_scenes(["{}"])) == {}
