"""`vdgray synth` end to end on the shared local Ray: local directory and loopback S3."""

import io
import json
import os

import pytest
from PIL import Image

from vdgray import manifest, storage
from vdgray.cli import main
from vdgray.data.cirr import load_cirr
from vdgray.data.synthetic.attributes import Scene, diff_scenes
from vdgray.data.synthetic.language import change_key, parse_delta
from vdgray.errors import StorageError
from vdgray.stages.synth import SynthConfig, run

pytestmark = pytest.mark.integration

TINY = dict(n_gallery=64, shard_rows=20, n_train=12, n_val=8, n_test=8, image_size=32,
            workers=1, progress=False, seed=3)


def check_world(uri: str, cfg: SynthConfig) -> dict:
    top = manifest.read_manifest(uri, "synth")
    assert top["config"]["n_gallery"] == cfg.n_gallery
    gallery = manifest.read_dataset(storage.join(uri, "gallery"), "gallery")
    captions = manifest.read_dataset(storage.join(uri, "captions"), "captions")
    ids = gallery.column("image_id").to_pylist()
    assert len(ids) == len(set(ids)) == cfg.n_gallery == top["counts"]["gallery"]
    assert ids == captions.column("image_id").to_pylist()  # same rows, same order
    assert manifest.read_manifest(storage.join(uri, "gallery"))["image_size"] == cfg.image_size
    assert len(manifest.dataset_files(storage.join(uri, "gallery"))) == 4  # ceil(64 / 20)
    for png in gallery.column("image").to_pylist()[:5]:
        assert Image.open(io.BytesIO(png)).size == (cfg.image_size, cfg.image_size)
    for text, attrs in zip(captions.column("caption").to_pylist()[:5],
                           captions.column("attributes").to_pylist()[:5], strict=True):
        scene = Scene.from_json(attrs)
        assert scene.objects[0].shape in text and scene.background in text

    # the CIRR splits go through the CIRR loader; test1 targets come from truth/
    val = load_cirr(storage.join(uri, "cirr"), "val", check_images=True)
    test1 = load_cirr(storage.join(uri, "cirr"), "test1", check_images=True)
    assert len(val.queries) == cfg.n_val and len(test1.queries) == cfg.n_test
    assert all(q.target is None for q in test1.queries)
    img = storage.read_bytes(val.images[val.queries[0].reference])
    assert Image.open(io.BytesIO(img)).size == (cfg.image_size, cfg.image_size)

    truth = storage.join(uri, "truth")
    tables = {f: storage.read_parquet(storage.join(truth, f)).to_pylist()
              for f in manifest.read_manifest(truth, "truth")["files"]}
    images = {r["image_id"]: r for r in tables["images.parquet"]}
    assert len(images) == cfg.n_gallery + sum(top["counts"][f"{s}_images"]
                                             for s in ("train", "val", "test1"))
    queries = tables["queries.parquet"]
    assert {q["split"] for q in queries} == {"train", "val", "test1"}
    for q in queries:
        ref = Scene.from_json(images[q["reference"]]["attributes"])
        tgt = Scene.from_json(images[q["target"]]["attributes"])
        changes = json.loads(q["changes"])
        assert diff_scenes(ref, tgt) == changes and 1 <= len(changes) <= 2
        assert parse_delta(q["caption"], ref) == change_key(changes)
    by_pair = {(q["split"], q["pairid"]): q for q in queries}
    for cq in val.queries:
        assert by_pair[("val", cq.pairid)]["target"] == cq.target
    return top


@pytest.fixture(scope="module")
def local_world(ray_session, tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("synth") / "world")
    cfg = SynthConfig(output=uri, **TINY)
    return uri, cfg, run(cfg)


def test_local_world_layout_and_contents(local_world):
    uri, cfg, summary = local_world
    top = check_world(uri, cfg)
    assert summary["counts"] == top["counts"] and summary["output"] == uri
    # the top manifest is the last file written
    mtimes = {p: os.path.getmtime(p) for p in storage.list_files(uri)}
    assert max(mtimes, key=mtimes.get) == storage.join(uri, "_manifest.json")


def test_rerun_refuses_then_overwrites_identically(local_world, capsys):
    uri, cfg, _ = local_world
    with pytest.raises(StorageError, match=f"{uri}: a finished synthetic world"):
        run(cfg)
    assert main(["synth", "--output", uri, "--set", "n_gallery=64"]) == 2
    assert "overwrite=true" in capsys.readouterr().err
    before = manifest.read_dataset(storage.join(uri, "gallery"), "gallery")
    # a different shard layout gives the same images: each image depends on (seed, index) only
    again = cfg.model_copy(update={"overwrite": True, "shard_rows": 7})
    run(again)
    after = manifest.read_dataset(storage.join(uri, "gallery"), "gallery")
    assert len(manifest.dataset_files(storage.join(uri, "gallery"))) == 10
    assert after.column("image_id").to_pylist() == before.column("image_id").to_pylist()
    assert after.column("image").to_pylist() == before.column("image").to_pylist()


def test_s3_world(ray_session, s3_bucket):
    uri = f"{s3_bucket}/worlds/w1"
    cfg = SynthConfig(output=uri, **{**TINY, "n_gallery": 64})
    summary = run(cfg)
    assert check_world(uri, cfg)["counts"] == summary["counts"]
    with pytest.raises(StorageError, match="already there"):
        run(cfg)


def test_missing_bucket_fails_early(ray_session, s3_server):
    with pytest.raises(StorageError, match="does not exist"):
        run(SynthConfig(output="s3://no-such-bucket-xyz/w", **TINY))
