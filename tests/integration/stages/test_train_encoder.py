"""`train-encoder` end to end on local Ray Train: a tiny world, one epoch, reload, resume."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageDraw

from vdgray import manifest, storage
from vdgray.errors import ConfigError
from vdgray.stages.train_encoder import TrainEncoderConfig, run

pytestmark = pytest.mark.integration

COLOURS = {"red": (220, 30, 30), "green": (40, 170, 60), "blue": (35, 80, 230)}
SHAPES = ("circle", "square")


def write_world(uri: str, n: int = 48) -> None:
    """A minimal world: gallery/ and captions/ (same ids) with their manifests."""
    ids, images, captions = [], [], []
    for i in range(n):
        colour = list(COLOURS)[i % 3]
        shape = SHAPES[(i // 3) % 2]
        img = Image.new("RGB", (64, 64), (128, 128, 128))
        box = [16 + i % 5, 16, 48 + i % 5, 48]
        draw = ImageDraw.Draw(img)
        (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=COLOURS[colour])
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        ids.append(f"aux-{i:05d}")
        images.append(buf.getvalue())
        captions.append(f"a {colour} {shape} on a gray background")
    storage.write_parquet(storage.join(uri, "gallery", "part-00000.parquet"),
                          pa.table({"image_id": ids, "image": pa.array(images, pa.binary())}))
    manifest.write_manifest(storage.join(uri, "gallery"), stage="gallery",
                            files=["part-00000.parquet"], extra={"image_size": 64})
    storage.write_parquet(storage.join(uri, "captions", "part-00000.parquet"),
                          pa.table({"image_id": ids, "caption": captions,
                                    "attributes": ["{}"] * n}))
    manifest.write_manifest(storage.join(uri, "captions"), stage="captions",
                            files=["part-00000.parquet"])


def _cfg(world, out, **kw):
    small = dict(hidden=32, layers=1, heads=2, patch_size=16, projection_dim=16, batch_size=16,
                 num_workers=1, holdout=0.25, max_length=12)
    return TrainEncoderConfig(world=world, output=out, **{**small, **kw})


def test_train_one_epoch_reload_and_resume(ray_session, tmp_path):
    from transformers import CLIPModel

    from vdgray.models.registry import load_encoder

    world = str(tmp_path / "world")
    write_world(world)
    out = str(tmp_path / "models" / "clip")
    first = run(_cfg(world, out, epochs=1))
    assert np.isfinite(first["loss"]) and first["epoch"] == 1
    assert 0.0 <= first["R@5"] <= 1.0 and first["holdout_pairs"] == 12

    doc = manifest.read_manifest(out, "model")
    assert "config.json" in doc["files"] and "train_state.pt" not in doc["files"]
    assert doc["metrics"]["train_pairs"] == 36
    model = CLIPModel.from_pretrained(out)
    assert model.config.projection_dim == 16
    enc = load_encoder(out)
    assert enc.encode_texts(["a red circle on a gray background"]).shape == (1, 16)

    # Same run name and storage: Ray Train hands back the epoch-1 checkpoint; only epoch 2 runs.
    second = run(_cfg(world, out, epochs=2, overwrite=True))
    assert second["epoch"] == 2 and second["resumed_from_epoch"] == 1


def test_finished_model_is_not_retrained(ray_session, tmp_path):
    out = str(tmp_path / "m")
    manifest.write_manifest(out, stage="model", extra={"metrics": {"R@5": 0.5}})
    res = run(_cfg(str(tmp_path / "no-world"), out, epochs=1))
    assert res["skipped"] is True and res["R@5"] == 0.5


def test_rendered_pretraining_pairs_on_a_synth_world(ray_session, tmp_path):
    from vdgray.stages.synth import SynthConfig
    from vdgray.stages.synth import run as synth

    world = str(tmp_path / "world")
    synth(SynthConfig(output=world, n_gallery=32, n_train=4, n_val=4, n_test=4, progress=False))
    out = str(tmp_path / "clip")
    res = run(_cfg(world, out, epochs=1, rendered_pairs=48, scene_loss=1.0))
    # the probe runs on the world's held-out images: every attribute reports an accuracy
    assert {"zs_shape", "zs_colour", "zs_size", "zs_background"} <= set(res)
    assert {"head_shape", "head_background"} <= set(res) and np.isfinite(res["scene_loss"])
    from transformers import CLIPModel

    assert type(CLIPModel.from_pretrained(out)) is CLIPModel  # the head is not saved
    assert res["rendered_pairs_per_epoch"] == 48
    assert manifest.read_manifest(out, "model")["counts"]["rendered_pairs"] == 48

    with pytest.raises(ConfigError, match="rendered_pairs"):
        bad = str(tmp_path / "handmade")
        write_world(bad)
        run(_cfg(bad, str(tmp_path / "clip2"), epochs=1, rendered_pairs=16))
