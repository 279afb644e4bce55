"""The world encoder's auxiliary scene head: cell pooling, labels, and that it can learn."""

from __future__ import annotations

import torch

from vdgray.data.synthetic.attributes import BACKGROUNDS, POSITIONS, SHAPES, Scene, SceneObject
from vdgray.train.encoder_scene_head import SceneHead, cell_pooling, head_accuracy, scene_labels


def test_every_patch_pools_into_the_cell_its_centre_lies_in():
    pool = cell_pooling(64, 8)  # an 8x8 patch grid over a 3x3 cell grid
    assert pool.shape == (9, 64)
    assert torch.allclose(pool.sum(1), torch.ones(9))
    owner = (pool > 0).float()
    assert torch.equal(owner.sum(0), torch.ones(64))  # each patch in exactly one cell
    assert owner[POSITIONS.index("top left"), 0] == 1  # patch (0, 0)
    assert owner[POSITIONS.index("bottom right"), 63] == 1  # patch (7, 7)
    assert owner[POSITIONS.index("center"), 3 * 8 + 3] == 1  # centre (28, 28) px
    assert owner[POSITIONS.index("top right"), 0 * 8 + 6] == 1  # centre (52, 4) px


def test_labels_name_each_cell_and_leave_the_rest_empty():
    s = Scene("black", (SceneObject("star", "red", "small", "top right"),
                        SceneObject("circle", "blue", "large", "bottom")))
    lab = scene_labels([s])
    tr, b = POSITIONS.index("top right"), POSITIONS.index("bottom")
    assert lab["shape"][0, tr] == SHAPES.index("star") and lab["shape"][0, b] == SHAPES.index("circle")
    assert int((lab["shape"][0] == len(SHAPES)).sum()) == 7
    assert lab["size"][0, b] == 2 and lab["background"][0] == BACKGROUNDS.index("black")


def test_head_fits_fixed_tokens():
    torch.manual_seed(0)
    scenes = [Scene(bg, (SceneObject(sh, "green", "medium", pos),))
              for bg, sh, pos in [("gray", "star", "left"), ("white", "cross", "center"),
                                  ("beige", "circle", "top"), ("black", "diamond", "bottom left")]]
    labels = scene_labels(scenes)
    tokens = torch.randn(4, 64, 16)
    head = SceneHead(16, 64, 8)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    first = float(head(tokens, labels).detach())
    for _ in range(100):
        opt.zero_grad()
        head(tokens, labels).backward()
        opt.step()
    assert float(head(tokens, labels).detach()) < first / 10
    assert head_accuracy(head, tokens, labels) == {"head_shape": 1.0, "head_colour": 1.0,
                                                   "head_size": 1.0, "head_background": 1.0}
