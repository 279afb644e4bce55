"""CIRR as people unpack it, through the CLI: train-cir, eval and index find the format and the
images without settings (or take `image_root`), the embedding cache tells image roots apart,
and a missing image is one `error:` line before any Ray work, never a resume hint."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pyarrow as pa
import pytest
from helpers.images import solid_png
from helpers.layouts import cirr_layout
from helpers.tiny_cir import save_tiny_cir

from vdgray import manifest, storage
from vdgray.cli import main
from vdgray.data.cirr import load_cirr

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("layouts-model") / "model"
    save_tiny_cir(path)
    return str(path)


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_cir_detects_format_and_images_in_clip4cir_layout(ray_session, tmp_path, capsys):
    root, _ = cirr_layout(tmp_path, "clip4cir")
    out = str(tmp_path / "model")
    code, _, err = _cli(capsys, "train-cir", "--human", root, "-o", out, "--epochs", "1",
                        "-s", "batch_size=2", "-s", "model.encoder=tiny-clip")
    assert code == 0, err
    doc = manifest.read_manifest(out, "cir-model")
    assert doc["counts"]["human_triplets"] == 2


def test_train_cir_takes_an_explicit_image_root(ray_session, tmp_path, capsys):
    root, images = cirr_layout(tmp_path, "img_raw")
    moved = tmp_path / "nlvr2"
    shutil.move(images, moved)
    out = str(tmp_path / "model")
    code, _, err = _cli(capsys, "train-cir", "--human", root, "-o", out, "--epochs", "1",
                        "-s", "batch_size=2", "-s", "model.encoder=tiny-clip",
                        "-s", "human.format=cirr", "-s", f"human.image_root={moved}")
    assert code == 0, err
    assert manifest.read_manifest(out, "cir-model")["counts"]["human_triplets"] == 2


def test_train_cir_without_images_fails_up_front_in_one_line(ray_session, tmp_path, capsys):
    root, images = cirr_layout(tmp_path, "beside")
    shutil.rmtree(Path(images) / "train")
    out = tmp_path / "model"
    t0 = time.monotonic()
    code, _, err = _cli(capsys, "train-cir", "--human", root, "-o", str(out), "--epochs", "1",
                        "-s", "batch_size=2", "-s", "model.encoder=tiny-clip")
    assert code == 2 and time.monotonic() - t0 < 20
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {root}/image_splits/split.rc2.train.json: CIRR images not "
                           "found in any known layout; tried ")
    assert f"{root}/train/0/train-0-0-img0.png" in line and "resume" not in line
    assert not out.exists()  # nothing written, no Ray Train run to resume


def test_eval_val_on_beside_layout_detects_everything_and_writes_submissions(
        ray_session, model_dir, tmp_path, capsys):
    root, images = cirr_layout(tmp_path, "beside")
    out = tmp_path / "eval"
    code, _, err = _cli(capsys, "eval", "--model", model_dir, "--data", root, "--split", "val",
                        "-o", str(out))
    assert code == 0, err
    doc = storage.read_json(str(out / "metrics.json"))
    assert (doc["format"], doc["image_root"], doc["cache_hit"]) == ("cirr", images, False)
    pairids = {str(q.pairid) for q in load_cirr(root, "val").queries}
    recall = storage.read_json(str(out / "recall_submission.json"))
    subset = storage.read_json(str(out / "recall_subset_submission.json"))
    assert (recall["metric"], subset["metric"]) == ("recall", "recall_subset")
    assert pairids <= set(recall) and pairids <= set(subset)
    assert "recall_submission.json" in manifest.read_manifest(str(out), "eval")["files"]


def test_index_split_on_clip4cir_layout_without_eval_cache(ray_session, model_dir, tmp_path,
                                                           capsys):
    root, images = cirr_layout(tmp_path, "clip4cir")
    out = tmp_path / "index"
    code, _, err = _cli(capsys, "index", "--model", model_dir, "--gallery", root,
                        "--split", "val", "-o", str(out))
    assert code == 0, err
    info = manifest.read_manifest(str(out), "index")["index"]
    assert info["ntotal"] == 8 and info["cache_hit"] is False
    assert info["source"] == {"gallery": root, "split": "val", "image_root": images}


def test_the_cache_key_tells_image_roots_apart(ray_session, model_dir, tmp_path, capsys):
    root, images = cirr_layout(tmp_path, "img_raw")
    other = tmp_path / "recoloured"  # the same names over other pixels
    for f in Path(images).rglob("*.png"):
        dst = other / f.relative_to(images)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(solid_png((len(f.name) * 20 % 255, 10, 200), size=8))
    cache = str(tmp_path / "cache")
    args = ("eval", "--model", model_dir, "--data", root, "-s", f"cache={cache}")
    assert _cli(capsys, *args, "-o", str(tmp_path / "a"))[0] == 0
    assert _cli(capsys, *args, "-o", str(tmp_path / "b"), "-s", f"data.image_root={other}")[0] == 0
    assert _cli(capsys, *args, "-o", str(tmp_path / "c"))[0] == 0
    hits = [storage.read_json(str(tmp_path / x / "metrics.json"))["cache_hit"] for x in "abc"]
    assert hits == [False, False, True]
    assert len(list(Path(cache).iterdir())) == 2


def test_index_with_a_missing_image_is_one_error_line(ray_session, model_dir, tmp_path, capsys):
    root, images = cirr_layout(tmp_path, "beside")
    gone = Path(images) / "dev" / "dev-1-0-img1.png"
    gone.unlink()
    out = tmp_path / "index"
    code, _, err = _cli(capsys, "index", "--model", model_dir, "--gallery", root,
                        "--split", "val", "-o", str(out))
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and str(gone) in line and "Traceback" not in err


def test_an_image_gone_during_embedding_is_its_own_one_line_error(ray_session, model_dir,
                                                                  tmp_path):
    """A file that disappears after the check (a bucket cleaned meanwhile) fails inside a Ray
    Data actor; the stage still raises our one-line error, not Ray's wrapped traceback."""
    from vdgray.errors import StorageError
    from vdgray.eval.cir_embed import gallery_embeddings

    root, images = cirr_layout(tmp_path, "img_raw")
    table = load_cirr(root, "val").images_table()
    missing = str(Path(images) / "dev" / "vanished.png")
    table = pa.table({"image_id": [*table.column("image_id").to_pylist(), "vanished"],
                      "uri": [*table.column("uri").to_pylist(), missing]})
    with pytest.raises(StorageError) as err:
        gallery_embeddings(model_dir, table, str(tmp_path / "cache"), {"k": 1}, batch_size=4)
    assert str(err.value) == f"{missing}: file not found"
