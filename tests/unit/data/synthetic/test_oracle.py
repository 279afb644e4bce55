"""Oracle pseudo triplets: the world's true delta for given pairs, written as triplets."""

import pyarrow as pa
import pytest

from vdgray import manifest, storage
from vdgray.data.synthetic.attributes import Scene, SceneObject
from vdgray.data.synthetic.language import change_key, parse_delta
from vdgray.data.synthetic.oracle import (
    ORACLE_GENERATOR,
    has_truth,
    true_deltas,
    write_oracle_triplets,
)
from vdgray.errors import DataFormatError
from vdgray.layout import TRIPLETS_STAGE, TRUTH, TRUTH_IMAGES, TRUTH_STAGE, truth_file

RED = Scene("gray", (SceneObject("circle", "red", "large", "top left"),))
BLUE_BLACK = Scene("black", (SceneObject("circle", "blue", "large", "top left"),))
TWO = Scene("gray", (SceneObject("circle", "red", "large", "top left"),
                     SceneObject("star", "green", "small", "center")))
SCENES = {"a": RED, "b": BLUE_BLACK, "c": TWO, "d": RED}


def test_true_delta_parses_back_to_the_true_changes():
    res = true_deltas(SCENES, ["a", "b"], ["b", "a"])
    assert res.reference_ids == ["a", "b"] and res.n_changes == [2, 2]
    want = {"a": {(0, "colour", "blue"), (None, "background", "black")},
            "b": {(0, "colour", "red"), (None, "background", "gray")}}
    for ref, text in zip(res.reference_ids, res.texts, strict=True):
        assert parse_delta(text, SCENES[ref]) == change_key(
            {"object": o, "attribute": a, "to": v} for o, a, v in want[ref])


def test_pairs_without_an_attribute_delta_are_dropped_and_counted():
    res = true_deltas(SCENES, ["a", "a", "a"], ["c", "d", "b"])
    assert res.target_ids == ["b"]
    assert res.dropped_object_count == 1 and res.dropped_identical == 1


def test_a_pairs_text_does_not_depend_on_the_other_pairs():
    alone = true_deltas(SCENES, ["a"], ["b"], seed=3).texts
    among = true_deltas(SCENES, ["b", "a"], ["a", "b"], seed=3).texts
    assert among[1] == alone[0]


def test_unknown_image_names_the_truth_file():
    with pytest.raises(DataFormatError, match="'zz' is not in the world's truth"):
        true_deltas(SCENES, ["a"], ["zz"])


def _world_with_truth(root) -> str:
    world = str(root / "world")
    table = pa.table({"image_id": list(SCENES), "attributes": [s.to_json() for s in
                                                                SCENES.values()]})
    storage.write_parquet(truth_file(world, TRUTH_IMAGES), table)
    manifest.write_manifest(storage.join(world, TRUTH), stage=TRUTH_STAGE,
                            files=[TRUTH_IMAGES])
    return world


def test_write_oracle_triplets_is_a_finished_triplets_output(tmp_path):
    world = _world_with_truth(tmp_path)
    assert has_truth(world) and not has_truth(str(tmp_path / "elsewhere"))
    pairs = pa.table({"reference_id": ["a", "a", "b"], "target_id": ["b", "c", "a"],
                      "similarity": [0.9, 0.8, 0.9]})
    out = str(tmp_path / "oracle")
    counts = write_oracle_triplets(world, pairs, out, inputs={"pairs": "/p"})
    assert counts["triplets"] == 2 and counts["pairs"] == 3
    assert counts["removed_object_count"] == 1 and counts["two_changes"] == 2
    doc = manifest.read_manifest(out, TRIPLETS_STAGE)
    assert doc["generator"] == ORACLE_GENERATOR and doc["inputs"]["pairs"] == "/p"
    t = manifest.read_dataset(out, TRIPLETS_STAGE)
    assert t.column("generator").to_pylist() == [ORACLE_GENERATOR] * 2
    assert set(t.column("source").to_pylist()) == {"pseudo"}


def test_a_pairs_table_without_its_columns_is_refused(tmp_path):
    world = _world_with_truth(tmp_path)
    with pytest.raises(DataFormatError, match="no 'target_id' column"):
        write_oracle_triplets(world, pa.table({"reference_id": ["a"]}), str(tmp_path / "o"))
