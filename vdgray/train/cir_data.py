"""Training data of `vdgray train-cir`: human triplets, pseudo triplets, and the joint sampler.

Human triplets come from CIRR (train split), FashionIQ (train, chosen categories) or a
synthetic world (its CIRR train split); pseudo triplets from a triplets output (contract in
DESIGN.md) whose images are read from a gallery output (image_id, image bytes). Both share
one image table (name -> encoded bytes; pixels are cached in memory when they fit, otherwise
decoded per batch). `joint_batches` gives every rank, for every step, a human batch B and a
pseudo batch B' (`pseudo_batch` rows, drawn from an endless stream of shuffles of the
pseudo set), deterministically from (seed, epoch, rank): a resumed run sees the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from vdgray import manifest, storage
from vdgray.data.formats import resolve_format
from vdgray.errors import DataFormatError
from vdgray.layout import TRIPLET_ID, TRIPLETS_STAGE, cirr_root_for

PIXEL_CACHE_BYTES = 2 << 30


@dataclass
class Triplets:
    """Row-aligned: reference / target indices into the image table, and tokenised text."""

    ref: np.ndarray
    tgt: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.ref)


class ImageTable:
    """Encoded images by index; `pixels(idx)` preprocesses (cached when the table fits)."""

    def __init__(self, names: list[str], data: list[bytes], preprocess, cache: bool = True):
        self.names, self.data, self.preprocess = names, data, preprocess
        self._cache = None
        if cache and data:
            first = preprocess(data[:1])
            if first[0].numel() * 4 * len(data) <= PIXEL_CACHE_BYTES:
                self._cache = torch.cat([preprocess(data[i:i + 256])
                                         for i in range(0, len(data), 256)])

    def __len__(self) -> int:
        return len(self.names)

    def pixels(self, idx) -> torch.Tensor:
        idx = np.asarray(idx, dtype=np.int64)
        if self._cache is not None:
            return self._cache[torch.from_numpy(idx)]
        return self.preprocess([self.data[i] for i in idx])


def human_split(fmt: str, root: str, categories=None, image_root: str | None = None,
                check_images: bool = False):
    """(format, the train split) of the human triplets at `root`; `fmt` "auto" is detected and
    the image root found as the loaders find it unless given."""
    fmt = resolve_format(fmt, root)
    if fmt in ("cirr", "world"):
        from vdgray.data.cirr import load_cirr

        return fmt, load_cirr(cirr_root_for(root, fmt), "train", image_root=image_root,
                              check_images=check_images)
    if fmt == "fashioniq":
        from vdgray.data.fashioniq import FASHIONIQ_CATEGORIES, load_fashioniq

        return fmt, load_fashioniq(root, "train", categories or FASHIONIQ_CATEGORIES,
                                   image_root=image_root, check_images=check_images)
    raise DataFormatError(f"unknown human triplet format {fmt!r} (cirr, fashioniq, world)")


def check_human(format: str, root: str, categories=None, limit: int | None = None,
                image_root: str | None = None) -> dict:
    """Check in the driver, before training starts, that the human triplets load and every
    image they list exists (one listing); returns the format and image root found, which the
    workers then use as given."""
    fmt, split = human_split(format, root, categories, image_root, check_images=True)
    _check_limit(root, limit, len(split.queries))
    return {"format": fmt, "image_root": split.image_root}


def _check_limit(root: str, limit: int | None, rows: int) -> None:
    if limit is not None and limit > rows:
        raise DataFormatError(f"{root}: human.limit {limit} is more than the {rows} human "
                              "triplets there")


def human_triplets(fmt: str, root: str, categories=None, limit: int | None = None,
                   image_root: str | None = None) -> tuple[pa.Table, dict[str, bytes]]:
    """Human triplets (contract schema) and the encoded bytes of every image they use; with
    `limit`, only the first `limit` triplets in the split's order (a learning-curve knob)."""
    _, split = human_split(fmt, root, categories, image_root)
    table = split.to_triplets()
    if limit is not None:
        _check_limit(root, limit, table.num_rows)
        table = table.slice(0, limit)
    names = _used(table)
    return table, {n: split.read_image(n) for n in names}


def pseudo_triplets(uri: str, gallery: str) -> tuple[pa.Table, dict[str, bytes]]:
    """Pseudo triplets from a finished triplets output, their images from the gallery (a
    synthetic world, Parquet with image_id/image, or a folder of images: as `vdgray embed`)."""
    table = manifest.read_dataset(uri, TRIPLETS_STAGE,
                                  columns=[TRIPLET_ID, "reference_id", "target_id", "text"])
    from vdgray.data.gallery import image_id_for, resolve_gallery

    names = _used(table)
    src = resolve_gallery(gallery)  # a world, Parquet (image_id, image) or a folder of images
    images: dict[str, bytes] = {}
    if src.kind == "folder":
        wanted_ids = set(names)
        for f in src.files:
            if (image_id := image_id_for(src.root, f)) in wanted_ids:
                images[image_id] = storage.read_bytes(f)
    wanted = pa.array(sorted(names), pa.string())
    for f in src.files if src.kind == "parquet" else []:
        part = storage.read_parquet(f, columns=["image_id", "image"])
        part = part.filter(pc.is_in(part.column("image_id"), value_set=wanted))
        images.update(zip(part.column("image_id").to_pylist(), part.column("image").to_pylist(),
                          strict=True))
    missing = [n for n in names if n not in images]
    if missing:
        raise DataFormatError(f"{uri}: {len(missing)} triplet images are not in the gallery "
                              f"{gallery} (first: {missing[0]!r})")
    return table, images


def _used(table: pa.Table) -> list[str]:
    return list(dict.fromkeys(table.column("reference_id").to_pylist()
                              + table.column("target_id").to_pylist()))


def index_triplets(table: pa.Table, index: dict[str, int], tokenize) -> Triplets:
    """Triplets as image indices + tokens."""
    tok = tokenize(table.column("text").to_pylist())
    return Triplets(
        ref=np.array([index[n] for n in table.column("reference_id").to_pylist()], np.int64),
        tgt=np.array([index[n] for n in table.column("target_id").to_pylist()], np.int64),
        input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
    )


def _stream(n: int, seed: int, start: int, count: int) -> np.ndarray:
    """Items [start, start+count) of the endless concatenation of seeded permutations of n."""
    out = np.empty(count, dtype=np.int64)
    pos, k = start, 0
    while k < count:
        rnd, off = divmod(pos, n)
        perm = np.random.default_rng([seed, 1, rnd]).permutation(n)
        take = min(count - k, n - off)
        out[k:k + take] = perm[off:off + take]
        k, pos = k + take, pos + take
    return out


def steps_per_epoch(n_human: int, batch: int, world: int) -> int:
    """Optimiser steps per epoch (each rank takes `batch` human rows per step)."""
    return n_human // (batch * world)


def joint_batches(n_human: int, n_pseudo: int, batch: int, pseudo_batch: int, epoch: int,
                  rank: int, world: int, seed: int):
    """Yield (human indices [batch], pseudo indices [pseudo_batch]) for this rank's steps."""
    steps = steps_per_epoch(n_human, batch, world)
    perm = np.random.default_rng([seed, 0, epoch]).permutation(n_human)
    for s in range(steps):
        lo = (s * world + rank) * batch
        h = perm[lo:lo + batch]
        if n_pseudo and pseudo_batch:
            g = (epoch * steps + s) * world + rank
            p = _stream(n_pseudo, seed, g * pseudo_batch, pseudo_batch)
        else:
            p = np.empty(0, dtype=np.int64)
        yield h, p
