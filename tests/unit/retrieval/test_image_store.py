"""Reference images by id for a CIRR split index: from the image root `vdgray index` recorded,
serve's `image_root` when the images moved since, and a gone file told from an unknown id."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.layouts import cirr_layout

from vdgray.errors import MissingFileError
from vdgray.retrieval.image_store import ImageStore


def test_recorded_image_root_then_serves_override(tmp_path):
    root, images = cirr_layout(tmp_path, "beside")
    source = {"gallery": root, "split": "val", "image_root": images}
    assert ImageStore.from_source(source).get("dev-0-1-img0").startswith(b"\x89PNG")
    moved = tmp_path / "moved"
    shutil.copytree(Path(images) / "dev", moved / "dev")
    shutil.rmtree(Path(images) / "dev")
    store = ImageStore.from_source(source)  # the recorded root, with no probe: files gone
    assert "dev-0-1-img0" in store
    with pytest.raises(MissingFileError, match=r"dev-0-1-img0\.png: file not found"):
        store.get("dev-0-1-img0")
    moved_store = ImageStore.from_source(source, image_root=str(moved))
    assert moved_store.get("dev-0-1-img0").startswith(b"\x89PNG")
