"""The tiny CIRR and FashionIQ assets rearranged into each image layout people unpack them in.

CIRR: "img_raw" (root/img_raw/{train,dev,test1}, as the synthetic world writes), "beside"
(root/{train,dev,test1} beside captions/ and image_splits/), "clip4cir" (CLIP4Cir's
cirr_dataset/{train,dev,test1} with the CIRR root cirr_dataset/cirr). FashionIQ: "images"
(root/images), "parent" (root/../images), "beside" (the images in the root itself).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.assets import CIRR_TINY, FASHIONIQ_TINY

CIRR_LAYOUTS = ("img_raw", "beside", "clip4cir")
FASHIONIQ_LAYOUTS = ("images", "parent", "beside")


def _copy_text_parts(src: Path, root: Path) -> None:
    for part in ("captions", "image_splits"):
        shutil.copytree(src / part, root / part)


def _beside(src: Path, images: Path, root: Path) -> tuple[str, str]:
    """captions/ and image_splits/ of `src` with the images' contents beside them in `root`."""
    _copy_text_parts(src, root)
    shutil.copytree(images, root, dirs_exist_ok=True)
    return str(root), str(root)


def cirr_layout(dst: Path, layout: str) -> tuple[str, str]:
    """Write the tiny CIRR under `dst` in `layout`; (CIRR root, the folder holding the
    split folders train/, dev/, test1/)."""
    images = CIRR_TINY / "img_raw"
    if layout == "img_raw":
        root = dst / "cirr"
        shutil.copytree(CIRR_TINY, root)
        return str(root), str(root / "img_raw")
    if layout == "beside":
        return _beside(CIRR_TINY, images, dst / "cirr")
    if layout == "clip4cir":
        top = dst / "cirr_dataset"
        _copy_text_parts(CIRR_TINY, top / "cirr")
        shutil.copytree(images, top, dirs_exist_ok=True)
        return str(top / "cirr"), str(top)
    raise ValueError(f"unknown CIRR layout {layout!r}")


def fashioniq_layout(dst: Path, layout: str) -> tuple[str, str]:
    """Write the tiny FashionIQ under `dst` in `layout`; (FashionIQ root, image folder)."""
    images = FASHIONIQ_TINY / "images"
    if layout == "images":
        root = dst / "fiq"
        shutil.copytree(FASHIONIQ_TINY, root)
        return str(root), str(root / "images")
    if layout == "parent":
        root = dst / "fashionIQ" / "data"
        _copy_text_parts(FASHIONIQ_TINY, root)
        shutil.copytree(images, dst / "fashionIQ" / "images")
        return str(root), str(dst / "fashionIQ" / "images")
    if layout == "beside":
        return _beside(FASHIONIQ_TINY, images, dst / "fiq")
    raise ValueError(f"unknown FashionIQ layout {layout!r}")
