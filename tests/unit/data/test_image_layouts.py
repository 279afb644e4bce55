"""CIRR and FashionIQ images found in every layout people unpack them in, and one error naming
every path tried when no layout holds them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.assets import upload_tree
from helpers.layouts import CIRR_LAYOUTS, FASHIONIQ_LAYOUTS, cirr_layout, fashioniq_layout

from vdgray import storage
from vdgray.data.cirr import load_cirr
from vdgray.data.fashioniq import load_fashioniq
from vdgray.errors import DataFormatError


@pytest.mark.parametrize("layout", CIRR_LAYOUTS)
@pytest.mark.parametrize("split", ["train", "val", "test1"])
def test_cirr_images_are_found_in_each_layout(tmp_path, layout, split):
    root, images = cirr_layout(tmp_path, layout)
    loaded = load_cirr(root, split, check_images=True)
    assert loaded.image_root == images
    name = loaded.gallery_names[0]
    assert loaded.read_image(name).startswith(b"\x89PNG")


def test_cirr_layout_found_on_s3(tmp_path, s3_bucket):
    local, _ = cirr_layout(tmp_path, "clip4cir")
    top = upload_tree(Path(local).parent, s3_bucket + "/data/cirr_dataset")
    val = load_cirr(top + "/cirr", "val", check_images=True)
    assert val.image_root == top
    assert val.images["dev-0-1-img0"] == f"{top}/dev/dev-0-1-img0.png"


def test_an_explicit_image_root_is_used_as_given(tmp_path):
    root, _ = cirr_layout(tmp_path, "img_raw")
    elsewhere = tmp_path / "nlvr2"
    shutil.copytree(Path(root) / "img_raw", elsewhere)
    val = load_cirr(root, "val", image_root=str(elsewhere), check_images=True)
    assert val.image_root == str(elsewhere)


def test_one_missing_image_does_not_hide_the_layout(tmp_path):
    root, images = cirr_layout(tmp_path, "beside")
    (Path(images) / "dev" / "dev-0-0-img0.png").unlink()  # the split's first image
    assert load_cirr(root, "val").image_root == images
    with pytest.raises(DataFormatError, match=r"1 of 8 listed images are absent .*dev-0-0-img0"):
        load_cirr(root, "val", check_images=True)


def test_cirr_without_images_names_every_path_tried(tmp_path):
    root, images = cirr_layout(tmp_path, "beside")
    for d in ("train", "dev", "test1"):
        shutil.rmtree(Path(images) / d)
    with pytest.raises(DataFormatError) as err:
        load_cirr(root, "val")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{root}/image_splits/split.rc2.val.json: CIRR ")
    for folder in (f"{root}/img_raw", root, str(tmp_path)):
        for name in ("dev-0-0-img0", "dev-1-1-img1"):  # the first and the last listed
            assert f"{folder}/dev/{name}.png" in msg
    assert "set image_root" in msg


@pytest.mark.parametrize("layout", FASHIONIQ_LAYOUTS)
def test_fashioniq_images_are_found_in_each_layout(tmp_path, layout):
    root, images = fashioniq_layout(tmp_path, layout)
    val = load_fashioniq(root, "val", check_images=True)
    assert val.image_root == images
    assert val.images["t9"] == storage.join(images, "t9.jpg")
    assert val.read_image("d0").startswith(b"\x89PNG")


def test_fashioniq_explicit_image_root(tmp_path):
    root, images = fashioniq_layout(tmp_path, "images")
    moved = tmp_path / "asins"
    shutil.move(images, moved)
    val = load_fashioniq(root, "val", image_root=str(moved))
    assert val.images["d1"] == str(moved / "d1.png")


def test_fashioniq_without_images_names_every_path_tried(tmp_path):
    root, images = fashioniq_layout(tmp_path, "images")
    shutil.rmtree(images)
    with pytest.raises(DataFormatError) as err:
        load_fashioniq(root, "val")
    msg = str(err.value)
    assert msg.startswith(f"{root}/image_splits/split.dress.val.json: FashionIQ images not found")
    for folder in (f"{root}/images", f"{tmp_path}/images", root, str(tmp_path)):
        assert f"{folder}/d0.png" in msg and f"{folder}/d0.jpg" in msg
