"""CIRR loader: the official rc2 layout read identically from a local path and from S3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.assets import CIRR_TINY, upload_tree

from vdgray import storage
from vdgray.data.cirr import load_cirr
from vdgray.data.images import decode_rgb
from vdgray.data.triplets import TRIPLETS_SCHEMA, triplet_id
from vdgray.errors import DataFormatError


def _edit_captions(root: Path, split: str, edit) -> Path:
    path = root / "captions" / f"cap.rc2.{split}.json"
    records = json.loads(path.read_text())
    edit(records)
    path.write_text(json.dumps(records))
    return path


def test_val_round_trip(cirr_root):
    val = load_cirr(cirr_root, "val", check_images=True)
    assert [q.pairid for q in val.queries] == [10, 11, 12]
    q = val.query(11)
    assert (q.reference, q.target, q.caption) == ("dev-0-2-img0", "dev-0-3-img0", "turn it yellow")
    assert q.target_soft == {"dev-0-3-img0": 1.0, "dev-0-4-img0": 0.5}
    assert q.members[0] == "dev-0-0-img0" and len(q.members) == 6 and q.set_id == 0
    assert val.gallery_names == [f"dev-0-{m}-img0" for m in range(6)] + [
        "dev-1-0-img1", "dev-1-1-img1"]
    assert val.images["dev-0-1-img0"] == storage.join(cirr_root, "img_raw", "dev",
                                                      "dev-0-1-img0.png")
    image = decode_rgb(val.read_image("dev-0-1-img0"), "dev-0-1-img0")
    assert image.size == (4, 4) and image.getpixel((0, 0)) == (0, 255, 0)
    table = val.images_table()
    assert table.column("image_id").to_pylist() == val.gallery_names


def test_train_nested_paths_and_triplets(cirr_root):
    train = load_cirr(cirr_root, "train", check_images=True)
    assert train.images["train-0-2-img0"].endswith("train/0/train-0-2-img0.png")
    t = train.to_triplets()
    assert t.schema == TRIPLETS_SCHEMA
    assert t.column("reference_id").to_pylist() == ["train-0-0-img0", "train-0-1-img0"]
    assert t.column("target_id").to_pylist() == ["train-0-1-img0", "train-0-2-img0"]
    assert t.column("text").to_pylist() == ["make it green", "make it blue"]
    assert set(t.column("source").to_pylist()) == {"human"}
    assert t.column("triplet_id")[0].as_py() == triplet_id("train-0-0-img0", "train-0-1-img0",
                                                            "human")


def test_test1_has_no_targets(cirr_root):
    test = load_cirr(cirr_root, "test1")
    (q,) = test.queries
    assert q.target is None and q.target_soft == {} and q.pairid == 100
    with pytest.raises(DataFormatError, match="has no targets"):
        test.to_triplets()


def test_custom_image_root(cirr_copy, tmp_path):
    moved = tmp_path / "nlvr2"
    shutil.move(str(cirr_copy / "img_raw"), moved)
    with pytest.raises(DataFormatError, match="CIRR images not found in any known layout"):
        load_cirr(str(cirr_copy), "val", check_images=True)
    val = load_cirr(str(cirr_copy), "val", image_root=str(moved), check_images=True)
    assert val.read_image("dev-0-0-img0").startswith(b"\x89PNG")


def test_missing_captions_file_is_named(cirr_copy):
    (cirr_copy / "captions" / "cap.rc2.val.json").unlink()
    with pytest.raises(DataFormatError, match=r"cap\.rc2\.val\.json: CIRR captions file not found"):
        load_cirr(str(cirr_copy), "val")


def test_missing_split_file_is_named_on_s3(s3_bucket):
    root = upload_tree(CIRR_TINY / "captions", s3_bucket + "/c/captions").rsplit("/", 1)[0]
    with pytest.raises(DataFormatError, match=r"s3://.*split\.rc2\.val\.json: CIRR image_splits"):
        load_cirr(root, "val")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda r: r[1].pop("caption"), r"record 1 \(pairid 11\): missing field 'caption'"),
        (lambda r: r[0].update(pairid="10"), r"record 0: field 'pairid' must be int, got str"),
        (lambda r: r[2]["img_set"].update(members="dev-1-0-img1"),
         r"record 2 \(pairid 12\) img_set: field 'members' must be list"),
        (lambda r: r[1].update(reference="dev-9-9-img9"),
         r"record 1 \(pairid 11\): field 'reference' names image 'dev-9-9-img9', which is "
         r"not in .*split\.rc2\.val\.json"),
        (lambda r: r[0].pop("target_hard"), r"record 0 \(pairid 10\): missing field 'target_hard'"),
        (lambda r: r[2].update(pairid=10), r"record 2 \(pairid 10\): duplicate pairid"),
        (lambda r: r.__setitem__(1, ["not", "a", "record"]), r"record 1: expected an object"),
    ],
)
def test_malformed_record_names_file_record_and_field(cirr_copy, edit, expected):
    _edit_captions(cirr_copy, "val", edit)
    with pytest.raises(DataFormatError, match=r"cap\.rc2\.val\.json: " + expected):
        load_cirr(str(cirr_copy), "val")


def test_invalid_json_names_the_file(cirr_copy):
    (cirr_copy / "image_splits" / "split.rc2.val.json").write_text("{not json")
    with pytest.raises(DataFormatError, match=r"split\.rc2\.val\.json: invalid JSON at line 1"):
        load_cirr(str(cirr_copy), "val")


def test_image_listed_but_absent(cirr_copy):
    (cirr_copy / "img_raw" / "dev" / "dev-1-1-img1.png").unlink()
    load_cirr(str(cirr_copy), "val")  # without the check the loader does not list images
    with pytest.raises(DataFormatError, match=r"split\.rc2\.val\.json: 1 of 8 listed images are "
                                              r"absent under .*img_raw \(first: dev-1-1-img1; "
                                              r"no file .*img_raw/dev/dev-1-1-img1\.png\)"):
        load_cirr(str(cirr_copy), "val", check_images=True)


def test_image_absent_on_s3(s3_bucket):
    root = upload_tree(CIRR_TINY, s3_bucket + "/cirr")
    storage.s3_client().delete_object(Bucket=s3_bucket[5:], Key="cirr/img_raw/dev/dev-0-5-img0.png")
    with pytest.raises(DataFormatError, match=r"first: dev-0-5-img0; no file s3://.*/dev-0-5-img0\.png\)"):
        load_cirr(root, "val", check_images=True)
    val = load_cirr(root, "val")
    with pytest.raises(DataFormatError, match="'dev-0-5-img0' listed but unreadable"):
        val.read_image("dev-0-5-img0")


def test_image_path_escaping_the_root_is_rejected(cirr_copy):
    path = cirr_copy / "image_splits" / "split.rc2.val.json"
    table = json.loads(path.read_text())
    table["dev-0-0-img0"] = "../../etc/passwd"
    path.write_text(json.dumps(table))
    with pytest.raises(DataFormatError, match=r"image 'dev-0-0-img0': image path .* must be "
                                              "relative"):
        load_cirr(str(cirr_copy), "val")


def test_unknown_split():
    with pytest.raises(DataFormatError, match="unknown CIRR split 'dev'"):
        load_cirr(str(CIRR_TINY), "dev")
