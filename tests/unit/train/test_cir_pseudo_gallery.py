"""Pseudo triplets find their images in any gallery form `vdgray embed` accepts."""

import pyarrow as pa
import pytest

from vdgray import manifest, storage
from vdgray.data.triplets import PSEUDO, make_triplets
from vdgray.errors import DataFormatError
from vdgray.train.cir_data import pseudo_triplets

IMAGES = {"a": b"png-a", "b": b"png-b", "c": b"png-c"}


@pytest.fixture
def triplets(tmp_path):
    out = str(tmp_path / "triplets")
    table = make_triplets(["a", "b"], ["b", "c"], ["make it red", "move it left"], PSEUDO, "g")
    storage.write_parquet(storage.join(out, "part-0.parquet"), table)
    manifest.write_manifest(out, stage="triplets", files=["part-0.parquet"])
    return out


def _world(tmp_path) -> str:
    world = str(tmp_path / "world")
    gallery = storage.join(world, "gallery")
    storage.write_parquet(storage.join(gallery, "part-0.parquet"), pa.table({
        "image_id": list(IMAGES), "image": pa.array(list(IMAGES.values()), pa.binary())}))
    manifest.write_manifest(gallery, stage="gallery", files=["part-0.parquet"])
    storage.write_parquet(storage.join(world, "captions", "part-0.parquet"),
                          pa.table({"image_id": ["a"], "caption": ["x"]}))
    manifest.write_manifest(storage.join(world, "captions"), stage="captions",
                            files=["part-0.parquet"])
    return world


def test_a_world_root_and_its_gallery_give_the_same_images(tmp_path, triplets):
    world = _world(tmp_path)
    for gallery in (world, storage.join(world, "gallery")):
        table, images = pseudo_triplets(triplets, gallery)
        assert table.num_rows == 2 and images == IMAGES


def test_a_folder_of_images_works_and_a_missing_image_is_named(tmp_path, triplets):
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, data in list(IMAGES.items())[:2]:
        (folder / f"{name}.png").write_bytes(data)
    with pytest.raises(DataFormatError, match="1 triplet images are not in the gallery.*'c'"):
        pseudo_triplets(triplets, str(folder))
    (folder / "c.png").write_bytes(IMAGES["c"])
    assert pseudo_triplets(triplets, str(folder))[1] == IMAGES
