"""Gallery resolution (folder, Parquet, world) and the Decoder's failure records (no Ray)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from helpers.images import noise_png

from vdgray import manifest, storage
from vdgray.data.gallery import (
    Decoder,
    collect_failures,
    gallery_rows,
    read_gallery_table,
    resolve_gallery,
)
from vdgray.errors import DataFormatError
from vdgray.models.encoders import image_processor


def test_decoder_records_corrupt_and_null_images(any_uri):
    dec = Decoder(image_processor(64), 64, failures_uri=storage.join(any_uri, "_failures"))
    batch = {"image_id": np.array(["a", "bad", "b", "none"], dtype=object),
             "image": np.array([noise_png(0), b"\x89PNG\r\n\x1a\nxx", noise_png(1), None],
                               dtype=object)}
    out = dec(batch)
    assert list(out["image_id"]) == ["a", "b"]
    assert out["pixel_values"].shape == (2, 3, 64, 64) and out["pixel_values"].dtype == np.float32
    reasons = {f["image_id"]: f["reason"] for f in dec.failures}
    assert set(reasons) == {"bad", "none"}
    assert "cannot decode image" in reasons["bad"] and "null" in reasons["none"]
    # The side records are readable by the stage (and a duplicate write is deduplicated).
    dec(batch)
    assert [f["image_id"] for f in collect_failures(storage.join(any_uri, "_failures"))] == ["bad", "none"]


def test_decoder_all_failed_batch_keeps_shape():
    out = Decoder(image_processor(32), 32)({"image_id": np.array(["x"], dtype=object),
                                             "image": np.array([b"junk"], dtype=object)})
    assert out["pixel_values"].shape == (0, 3, 32, 32) and len(out["image_id"]) == 0


def test_resolve_folder_parquet_and_world(tmp_path):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(noise_png(0))
    (folder / "sub" / "b.png").write_bytes(noise_png(1))
    (folder / "notes.txt").write_text("ignored")
    src = resolve_gallery(str(folder))
    assert src.kind == "folder" and gallery_rows(src) == 2
    assert sorted(read_gallery_table(str(folder)).column("image_id").to_pylist()) == ["a", "sub/b"]

    world = tmp_path / "world"
    table = pa.table({"image_id": ["x", "y", "z"],
                      "image": [noise_png(2), noise_png(3), noise_png(4)]})
    storage.write_parquet(str(world / "gallery" / "part-00000.parquet"), table)
    storage.write_parquet(str(world / "gallery" / "stray.parquet"), table)  # not in the manifest
    manifest.write_manifest(str(world / "gallery"), stage="gallery", files=["part-00000.parquet"])
    src = resolve_gallery(str(world))
    assert src.kind == "parquet" and gallery_rows(src) == 3
    assert read_gallery_table(str(world)).column("image_id").to_pylist() == ["x", "y", "z"]


def test_bad_galleries_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no gallery here"):
        resolve_gallery(str(tmp_path / "empty"))
    storage.write_parquet(str(tmp_path / "wrong" / "p.parquet"), pa.table({"id": ["a"]}))
    with pytest.raises(DataFormatError, match="column 'image_id' missing"):
        read_gallery_table(str(tmp_path / "wrong"))
