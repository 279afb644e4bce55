"""Image–caption pairs of a synthetic world for encoder training, and the held-out metric.

Pairs come from the world's `gallery/` (image bytes) joined by image_id with `captions/`.
The held-out metric is zero-shot text->image Recall@K over the held-out slice. Many scenes
share a caption (same attributes), so a retrieved image counts as a hit when its caption is
identical to the query's — an image the caption describes exactly, not only the one it was
written for. The chance level of that metric is computed alongside, so numbers can be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
import torch

from vdgray import manifest
from vdgray.errors import DataFormatError
from vdgray.layout import CAPTIONS, GALLERY, world_part


@dataclass
class Pairs:
    """Parallel lists: image ids, encoded image bytes, captions, scene attributes (JSON)."""

    image_ids: list[str]
    images: list[bytes]
    captions: list[str]
    attributes: list[str]

    def take(self, idx) -> Pairs:
        return Pairs([self.image_ids[i] for i in idx], [self.images[i] for i in idx],
                     [self.captions[i] for i in idx], [self.attributes[i] for i in idx])


def load_pairs(world: str) -> Pairs:
    """Join W/gallery (image) and W/captions (caption) on image_id; every image needs a caption."""
    gallery = manifest.read_dataset(world_part(world, GALLERY), columns=["image_id", "image"])
    caps = manifest.read_dataset(world_part(world, CAPTIONS),
                                 columns=["image_id", "caption", "attributes"])
    by_id = dict(zip(caps.column("image_id").to_pylist(),
                     zip(caps.column("caption").to_pylist(), caps.column("attributes").to_pylist(),
                         strict=True), strict=True))
    ids = gallery.column("image_id").to_pylist()
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataFormatError(
            f"{world_part(world, CAPTIONS)}: no caption for {len(missing)} gallery images "
            f"(first: {missing[0]!r})"
        )
    return Pairs(ids, gallery.column("image").to_pylist(), [by_id[i][0] for i in ids],
                 [by_id[i][1] for i in ids])


def split_holdout(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) index split; at least 2 held out and 2 for training."""
    order = np.random.default_rng(seed).permutation(n)
    n_hold = min(max(2, int(round(n * holdout))), n - 2)
    if n_hold < 2:
        raise DataFormatError(f"need at least 4 image-caption pairs to hold some out, got {n}")
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def recall_at_k(text_emb: torch.Tensor, image_emb: torch.Tensor, captions: list[str],
                ks=(1, 5)) -> dict[str, float]:
    """Text->image R@K (hit: a top-K image has the query's caption) and its chance level."""
    sims = text_emb @ image_emb.T
    n = image_emb.shape[0]
    order = sims.argsort(dim=1, descending=True).numpy()
    caps = np.array(captions, dtype=object)
    same = caps[None, :] == caps[:, None]  # [query, image]: image matches query's caption
    out: dict[str, float] = {}
    for k in ks:
        hits = np.take_along_axis(same, order[:, :k], axis=1).any(axis=1)
        out[f"R@{k}"] = float(hits.mean())
        m = same.sum(axis=1)
        out[f"chance_R@{k}"] = float(np.mean([1 - comb(n - mi, k) / comb(n, k) for mi in m]))
    return out
