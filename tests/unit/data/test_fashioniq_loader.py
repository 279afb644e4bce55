"""FashionIQ loader: official layout, common-protocol query text, clear errors, local and S3."""

from __future__ import annotations

import json

import pytest
from helpers.assets import FASHIONIQ_TINY, upload_tree

from vdgray import storage
from vdgray.data.fashioniq import fashioniq_query_text, load_fashioniq
from vdgray.errors import DataFormatError


@pytest.mark.parametrize(
    "c1, c2, expected",
    [
        ("is longer.", "has no sleeves ", "Is longer and has no sleeves"),
        ("Is darker?", " and has a collar", "Is darker and and has a collar"),
        ("  has stripes, ", "is red", "Has stripes and is red"),
        ("IS RED", "Has A Bow.", "Is red and Has A Bow"),
    ],
)
def test_query_text_matches_common_protocol(c1, c2, expected):
    assert fashioniq_query_text(c1, c2) == expected


def test_val_round_trip(fiq_root):
    val = load_fashioniq(fiq_root, "val", check_images=True)
    assert val.galleries == {"dress": ["d0", "d1", "d2"], "shirt": ["s0", "s1", "s2"],
                             "toptee": ["t0", "t1"]}
    assert [(q.category, q.reference, q.target) for q in val.queries] == [
        ("dress", "d0", "d1"), ("shirt", "s0", "s2"), ("toptee", "t9", "t1")]
    assert val.category_queries("dress")[0].text == "Is longer and has no sleeves"
    # extensions resolved by one listing: png for gallery images, jpg for t9
    assert val.images["d1"] == storage.join(fiq_root, "images", "d1.png")
    assert val.images["t9"] == storage.join(fiq_root, "images", "t9.jpg")
    assert val.read_image("t9")[:2] == b"\xff\xd8"
    t = val.to_triplets()
    assert t.column("text").to_pylist()[2] == "Has stripes and is red"


def test_categories_subset_and_explicit_ext(fiq_root):
    val = load_fashioniq(fiq_root, "val", categories=["shirt"], ext="png")
    assert list(val.galleries) == ["shirt"] and len(val.queries) == 1
    assert val.images["s2"].endswith("s2.png")


def test_explicit_ext_checked_only_on_request(fiq_copy):
    load_fashioniq(str(fiq_copy), "val", categories=["toptee"], ext="png")
    with pytest.raises(DataFormatError, match=r"cap\.toptee\.val\.json: record 0: image 't9'"):
        load_fashioniq(str(fiq_copy), "val", categories=["toptee"], ext="png", check_images=True)


def test_missing_captions_file(fiq_copy):
    (fiq_copy / "captions" / "cap.shirt.val.json").unlink()
    with pytest.raises(DataFormatError, match=r"cap\.shirt\.val\.json: FashionIQ captions file "
                                              "not found"):
        load_fashioniq(str(fiq_copy), "val")


def test_missing_split_file_on_s3(s3_bucket):
    root = upload_tree(FASHIONIQ_TINY / "captions", s3_bucket + "/f/captions").rsplit("/", 1)[0]
    with pytest.raises(DataFormatError, match=r"s3://.*split\.dress\.val\.json: FashionIQ "
                                              "image_splits file not found"):
        load_fashioniq(root, "val")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda r: r[0].pop("candidate"), r"record 0: missing field 'candidate'"),
        (lambda r: r[0].update(target=3), r"record 0: field 'target' must be a non-empty string"),
        (lambda r: r[0].update(captions=["only one"]),
         r"record 0: field 'captions' must be a list of two strings"),
        (lambda r: r[0].pop("captions"), r"record 0: missing field 'captions'"),
        (lambda r: r[0].update(target="zz"),
         r"record 0: field 'target' names image 'zz', which is not in .*split\.dress\.val\.json"),
        (lambda r: r.append("oops"), r"record 1: expected an object"),
    ],
)
def test_malformed_record(fiq_copy, edit, expected):
    path = fiq_copy / "captions" / "cap.dress.val.json"
    records = json.loads(path.read_text())
    edit(records)
    path.write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match=r"cap\.dress\.val\.json: " + expected):
        load_fashioniq(str(fiq_copy), "val")


def test_image_listed_but_absent(fiq_copy):
    (fiq_copy / "images" / "s1.png").unlink()
    with pytest.raises(DataFormatError, match=r"1 of 9 listed images are absent under .*images "
                                              r"as \.png or \.jpg \(first: .*split\.shirt\.val"
                                              r"\.json: image 's1'\)"):
        load_fashioniq(str(fiq_copy), "val")


def test_bad_split_and_category():
    with pytest.raises(DataFormatError, match="unknown FashionIQ split"):
        load_fashioniq(str(FASHIONIQ_TINY), "dev")
    with pytest.raises(DataFormatError, match=r"unknown FashionIQ categories \['shoes'\]"):
        load_fashioniq(str(FASHIONIQ_TINY), "val", categories=["shoes"])
