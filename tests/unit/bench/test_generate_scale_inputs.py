"""Inputs of `vdgray bench generate --scale`: N distinct ordered pairs over a fixed gallery."""

from __future__ import annotations

import pytest

from vdgray import manifest, storage
from vdgray.bench.generate_scale import write_inputs


def test_pairs_are_distinct_ordered_pairs_of_gallery_images(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    paths = write_inputs(str(tmp_path / "in"), 29, 6, str(model))
    pairs = manifest.read_dataset(paths["pairs"], stage="pairs")
    gallery = set(manifest.read_dataset(paths["gallery"], stage="gallery")
                  .column("image_id").to_pylist())
    got = list(zip(pairs.column("reference_id").to_pylist(),
                   pairs.column("target_id").to_pylist(), strict=True))
    assert len(got) == 29 == len(set(got)) == len(set(pairs.column("pair_id").to_pylist()))
    assert all(r != t and r in gallery and t in gallery for r, t in got)
    assert storage.exists(storage.join(paths["model"], "config.json"))


def test_too_many_pairs_for_the_gallery_is_refused(tmp_path):
    with pytest.raises(ValueError, match="31 pairs need more than 6 images"):
        write_inputs(str(tmp_path / "in"), 31, 6, str(tmp_path))


def test_pairs_shard_size_is_chosen(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    many = write_inputs(str(tmp_path / "many"), 29, 6, str(model), shard_rows=10)
    one = write_inputs(str(tmp_path / "one"), 29, 6, str(model), shard_rows=29)
    assert len(manifest.dataset_files(many["pairs"], stage="pairs")) == 3
    assert len(manifest.dataset_files(one["pairs"], stage="pairs")) == 1
