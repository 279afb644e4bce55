"""An auxiliary scene-parsing loss for the world encoder's vision tower.

The contrastive loss alone teaches a from-scratch ViT colour and background within a few
thousand steps but object shape only very slowly: shape is one word of the caption and rarely
the only difference between two images of a batch (zero-shot shape 0.29 after 64k image-caption
pairs, against 0.58 for a supervised classifier given the same number of images). The VDG reads
the tower's patch tokens (LLaVA's `vision_feature_layer`), and every delta names its object by
shape. So, with `scene_loss > 0`, a linear head reads those same patch tokens, pooled over each
of the world's 3x3 position cells, and predicts each cell's shape, colour and size (or
"empty"), plus the background from all tokens: a dense, exact label the world has for free.
The head is training-only; the saved encoder is a plain CLIPModel.
"""

from __future__ import annotations

import torch
from torch import nn

from vdgray.data.synthetic.attributes import BACKGROUNDS, COLOURS, POSITIONS, SHAPES, SIZES, Scene

CELL_ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES}


def cell_pooling(image_size: int, patch_size: int) -> torch.Tensor:
    """[9, n_patches] row-normalised: which patches' centres fall in each 3x3 grid cell."""
    g = image_size // patch_size
    centres = (torch.arange(g, dtype=torch.float32) + 0.5) * patch_size
    cell_of = torch.clamp((centres * 3 / image_size).long(), max=2)  # per row / column
    cells = (cell_of[:, None] * 3 + cell_of[None, :]).flatten()  # patch (r, c) -> cell
    pool = torch.nn.functional.one_hot(cells, len(POSITIONS)).T.float()
    return pool / pool.sum(1, keepdim=True).clamp(min=1)


def scene_labels(scenes: list[Scene]) -> dict[str, torch.Tensor]:
    """Per image: each cell's shape/colour/size index (len(values) = empty), the background."""
    out = {a: torch.empty(len(scenes), len(POSITIONS), dtype=torch.long) for a in CELL_ATTRIBUTES}
    for a, values in CELL_ATTRIBUTES.items():
        out[a].fill_(len(values))
    bg = torch.empty(len(scenes), dtype=torch.long)
    for i, s in enumerate(scenes):
        bg[i] = BACKGROUNDS.index(s.background)
        for o in s.objects:
            cell = POSITIONS.index(o.position)
            for a, values in CELL_ATTRIBUTES.items():
                out[a][i, cell] = values.index(o.get(a))
    out["background"] = bg
    return out


class SceneHead(nn.Module):
    """Linear read-outs of cell-pooled patch tokens; `forward` returns the mean cross-entropy."""

    def __init__(self, hidden: int, image_size: int, patch_size: int):
        super().__init__()
        self.register_buffer("pool", cell_pooling(image_size, patch_size), persistent=False)
        self.cell = nn.ModuleDict({a: nn.Linear(hidden, len(v) + 1)
                                   for a, v in CELL_ATTRIBUTES.items()})
        self.background = nn.Linear(hidden, len(BACKGROUNDS))

    def logits(self, patch_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        cells = torch.einsum("cp,bph->bch", self.pool, patch_tokens)
        out = {a: head(cells) for a, head in self.cell.items()}
        out["background"] = self.background(patch_tokens.mean(1))
        return out

    def forward(self, patch_tokens: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum of cross-entropies: each attribute over occupied cells, "empty" over empty cells,
        and the background. Occupied cells are few (1-2 of 9), so averaging over all cells
        would drown the shape signal in easy "empty" answers (head shape accuracy stayed at
        0.19 after 51k images that way)."""
        f = nn.functional.cross_entropy
        logits = self.logits(patch_tokens)
        occupied = labels["shape"] < len(SHAPES)
        losses = [f(logits[a][occupied], labels[a][occupied]) for a in CELL_ATTRIBUTES]
        if (~occupied).any():
            losses.append(f(logits["shape"][~occupied], labels["shape"][~occupied]))
        losses.append(f(logits["background"], labels["background"]))
        return torch.stack(losses).sum()


class ClipWithSceneHead(nn.Module):
    """CLIP + scene head in one module, so DDP synchronises both; `clip` is what is saved."""

    def __init__(self, clip, head: SceneHead | None, feature_layer: int = -2):
        super().__init__()
        self.clip, self.head, self.feature_layer = clip, head, feature_layer

    def forward(self, input_ids, attention_mask, pixel_values, labels=None):
        want_hidden = self.head is not None and labels is not None
        out = self.clip(input_ids=input_ids, attention_mask=attention_mask,
                        pixel_values=pixel_values, return_loss=True,
                        output_hidden_states=want_hidden)
        if not want_hidden:
            return out.loss, None
        tokens = out.vision_model_output.hidden_states[self.feature_layer][:, 1:]  # drop CLS
        return out.loss, self.head(tokens, labels)


@torch.no_grad()
def head_accuracy(head: SceneHead, patch_tokens: torch.Tensor,
                  labels: dict[str, torch.Tensor]) -> dict[str, float]:
    """{"head_<attribute>": accuracy over occupied cells (background: per image)}."""
    logits = head.logits(patch_tokens)
    occupied = labels["shape"] < len(SHAPES)
    out = {f"head_{a}": float((logits[a].argmax(-1) == labels[a])[occupied].float().mean())
           for a in CELL_ATTRIBUTES}
    out["head_background"] = float((logits["background"].argmax(-1) == labels["background"])
                                   .float().mean())
    return out
