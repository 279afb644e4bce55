"""The synthetic world's scenes, images and CIRR records, without Ray or storage."""

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from vdgray.data.synthetic.attributes import (
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    SceneObject,
    apply_change,
    diff_scenes,
    perturb,
    sample_scene,
)
from vdgray.data.synthetic.render import png_bytes, render
from vdgray.data.synthetic.world import (
    GROUP_SIZE,
    AuxRenderer,
    aux_scene,
    cirr_record,
    plan_split,
    split_index,
)


def test_vocabulary_sizes_and_disjoint_colours():
    assert len(SHAPES) >= 6 and len(COLOURS) >= 8 and len(SIZES) == 3 and len(POSITIONS) == 9
    assert {"top left", "center", "bottom right"} <= set(POSITIONS)
    assert not set(COLOURS) & set(BACKGROUNDS)  # an object never has its background's colour


def test_scene_rules_are_enforced():
    obj = SceneObject("circle", "red", "large", "top left")
    with pytest.raises(ValueError, match="share a position"):
        Scene("gray", (obj, SceneObject("star", "blue", "small", "top left")))
    with pytest.raises(ValueError, match="unknown background"):
        Scene("red", (obj,))
    with pytest.raises(ValueError, match="unknown colour"):
        Scene("gray", (SceneObject("circle", "gray", "large", "top left"),))


def test_scene_json_round_trip():
    rng = np.random.default_rng(3)
    for _ in range(50):
        s = sample_scene(rng, 0.5)
        assert Scene.from_json(s.to_json()) == s


@pytest.mark.parametrize("n", [1, 2])
def test_perturb_changes_exactly_n_attributes(n):
    rng = np.random.default_rng(n)
    for _ in range(300):
        s = sample_scene(rng, 0.5)
        t, changes = perturb(s, rng, n)
        assert len(changes) == n
        assert len({(c["object"], c["attribute"]) for c in changes}) == n
        assert all(c["from"] != c["to"] for c in changes)
        assert diff_scenes(s, t) == sorted(changes, key=lambda c: (c["object"] is not None,
                                                                     c["object"] or 0,
                                                                     ["shape", "colour", "size",
                                                                      "position", "background"]
                                                                     .index(c["attribute"])))
        assert len({o.position for o in t.objects}) == len(t.objects)
        u = s
        for c in changes:
            u = apply_change(u, c["object"], c["attribute"], c["to"])
        assert u == t


def test_sampling_covers_the_vocabulary_and_both_object_counts():
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng, 0.3) for _ in range(2000)]
    objs = [o for s in scenes for o in s.objects]
    assert {o.shape for o in objs} == set(SHAPES) and {o.colour for o in objs} == set(COLOURS)
    assert {o.position for o in objs} == set(POSITIONS) and {s.background for s in scenes} == set(BACKGROUNDS)
    two = sum(len(s.objects) == 2 for s in scenes) / len(scenes)
    assert 0.2 < two < 0.4


def _png(scene, seed, size=64, noise=0.5):
    return png_bytes(render(scene, size, np.random.default_rng(seed), noise))


def test_render_is_deterministic_and_noisy():
    s = Scene("gray", (SceneObject("star", "blue", "large", "center"),))
    assert _png(s, 7) == _png(s, 7)
    a, b = (np.asarray(Image.open(io.BytesIO(_png(s, k)))) for k in (7, 8))
    assert a.shape == (64, 64, 3) and not np.array_equal(a, b)  # same attributes, other pixels
    # without noise equal scenes are pixel-identical, so the noise is what makes them differ
    assert _png(s, 7, noise=0) == _png(s, 8, noise=0)


def test_render_draws_the_object_where_and_how_big_it_says():
    def colour_mask(scene, size):
        arr = np.asarray(render(scene, size, np.random.default_rng(0), 0.0)).astype(int)
        return np.abs(arr - np.array([35, 80, 230])).sum(axis=2) < 60  # blue pixels

    areas = []
    for size_word in SIZES:
        m = colour_mask(Scene("white", (SceneObject("square", "blue", size_word, "top left"),)), 96)
        ys, xs = np.nonzero(m)
        assert xs.max() < 40 and ys.max() < 40  # inside the top-left cell of 96/3 (+ margin)
        areas.append(m.sum())
    assert areas[0] < areas[1] < areas[2]
    m = colour_mask(Scene("white", (SceneObject("circle", "blue", "large", "bottom right"),)), 48)
    ys, xs = np.nonzero(m)
    assert xs.min() > 28 and ys.min() > 28 and m.shape == (48, 48)


def test_shapes_render_differently():
    imgs = {sh: np.asarray(render(Scene("black", (SceneObject(sh, "yellow", "large", "center"),)),
                                  64, np.random.default_rng(0), 0.0)) for sh in SHAPES}
    for a, b in itertools.combinations(SHAPES, 2):
        assert np.abs(imgs[a].astype(int) - imgs[b].astype(int)).sum() > 0, (a, b)


def test_aux_renderer_is_a_pure_function_of_seed_and_index():
    r = AuxRenderer(seed=5, image_size=32)
    whole = r({"id": np.arange(10)})
    parts = [r({"id": np.arange(0, 4)}), r({"id": np.arange(4, 10)})]
    joined = {k: np.concatenate([p[k] for p in parts]) for k in whole}
    for k in whole:
        assert list(whole[k]) == list(joined[k])
    assert list(whole["image_id"][:2]) == ["aux-00000000", "aux-00000001"]
    assert len(set(whole["image"])) == 10
    assert Image.open(io.BytesIO(whole["image"][3])).size == (32, 32)
    other = AuxRenderer(seed=6, image_size=32)({"id": np.arange(10)})
    assert list(other["image"]) != list(whole["image"])


def test_aux_families_hold_near_neighbours():
    scenes = [aux_scene(0, i, 0.3, 0.3, family_size=4) for i in range(40)]
    for f in range(10):
        base = scenes[4 * f]
        for m in range(1, 4):
            assert 1 <= len(diff_scenes(base, scenes[4 * f + m])) <= 2


def test_cirr_plan_and_records():
    plan = plan_split("val", 30, seed=1, two_object_prob=0.5, two_change_prob=0.5,
                      queries_per_group=4)
    assert len(plan.queries) == 30 and [q["pairid"] for q in plan.queries] == list(range(30))
    assert len(plan.scenes) == GROUP_SIZE * len(plan.groups) == GROUP_SIZE * 8
    assert len(set(plan.scenes.values())) == len(plan.scenes)  # no attribute duplicates
    n_changes = set()
    for q in plan.queries:
        rec = cirr_record(q, "val")
        members = rec["img_set"]["members"]
        assert len(members) == 6 and rec["reference"] in members and rec["target_hard"] in members
        assert rec["target_soft"] == {rec["target_hard"]: 1.0} and rec["reference"] != rec["target_hard"]
        assert rec["reference"].startswith("dev-") and rec["reference"].endswith("-img0")
        assert diff_scenes(plan.scenes[rec["reference"]], plan.scenes[rec["target_hard"]]) \
            == q["changes"]
        n_changes.add(len(q["changes"]))
        test = cirr_record(q, "test1")
        assert set(test) == {"pairid", "reference", "caption", "img_set"}
    assert n_changes == {1, 2}
    paths = split_index(plan)
    assert paths["dev-0-0-img0"] == "./dev/dev-0-0-img0.png" and len(paths) == len(plan.scenes)


def test_cirr_plan_is_deterministic():
    a = plan_split("train", 12, seed=3)
    b = plan_split("train", 12, seed=3)
    c = plan_split("train", 12, seed=4)
    assert a.queries == b.queries and a.scenes == b.scenes
    assert a.queries != c.queries


def test_gallery_shard_writer_writes_matching_shards(tmp_path):
    from vdgray import storage
    from vdgray.data.synthetic.gallery_writer import GalleryShardWriter

    g, c = str(tmp_path / "gallery"), str(tmp_path / "captions")
    w = GalleryShardWriter(g, c, n_rows=25, shard_rows=10, seed=1, image_size=24)
    out = w({"id": np.array([2, 0])})
    assert out["file"].tolist() == ["part-00002.parquet", "part-00000.parquet"]
    assert out["rows"].tolist() == [5, 10]
    gal = storage.read_parquet(str(tmp_path / "gallery" / "part-00002.parquet"))
    cap = storage.read_parquet(str(tmp_path / "captions" / "part-00002.parquet"))
    assert gal.column_names == ["image_id", "image"]
    assert cap.column_names == ["image_id", "caption", "attributes"]
    assert gal.column("image_id").to_pylist() == [f"aux-{i:08d}" for i in range(20, 25)]
    assert cap.column("image_id").to_pylist() == gal.column("image_id").to_pylist()
    assert Image.open(io.BytesIO(gal.column("image")[0].as_py())).size == (24, 24)
