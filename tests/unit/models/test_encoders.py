"""Encoders: the tiny CLIP's shapes and unit norms, save/load, and s3:// model caching."""

from __future__ import annotations

import pytest
import torch
from helpers.images import noise_png
from PIL import Image

from vdgray import storage
from vdgray.errors import DataFormatError, StorageError
from vdgray.models import checkpoint
from vdgray.models.encoders import load_dir
from vdgray.models.registry import load_encoder


def test_tiny_clip_shapes_norms_and_determinism():
    enc = load_encoder("tiny-clip")
    pixels = enc.preprocess([noise_png(0), Image.new("RGB", (40, 90), "red")])
    assert pixels.shape == (2, 3, enc.image_size, enc.image_size) and pixels.dtype == torch.float32
    img = enc.encode_images(pixels)
    txt = enc.encode_texts(["a red circle", "a small blue star on the left"])
    assert img.shape == (2, enc.dim) and txt.shape == (2, enc.dim)
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(2))
    assert not torch.allclose(img[0], img[1])
    torch.testing.assert_close(load_encoder("tiny-clip").encode_images(pixels), img)


def test_preprocess_rejects_corrupt_bytes():
    enc = load_encoder("tiny-clip")
    with pytest.raises(DataFormatError, match="cannot decode image"):
        enc.preprocess([noise_png(1)[:40]])


def test_save_and_reload_from_s3_is_cached_once(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("VDGRAY_CACHE", str(tmp_path / "cache"))
    enc = load_encoder("tiny-clip")
    enc.save(tmp_path / "model")
    uri = f"{s3_bucket}/models/tiny"
    names = checkpoint.upload_dir(tmp_path / "model", uri)
    assert "config.json" in names and "preprocessor_config.json" in names

    local = checkpoint.local_model_dir(uri)
    assert (local / "config.json").is_file() and str(local).startswith(str(tmp_path / "cache"))
    # A second call must not download again: remove the objects and ask once more.
    for f in storage.list_files(uri):
        bucket, key = storage.parse_s3(f)
        storage.s3_client().delete_object(Bucket=bucket, Key=key)
    assert checkpoint.local_model_dir(uri) == local

    again = load_dir(local)
    pixels = enc.preprocess([noise_png(2)])
    torch.testing.assert_close(again.encode_images(pixels), enc.encode_images(pixels))
    torch.testing.assert_close(again.encode_texts(["a red circle"]), enc.encode_texts(["a red circle"]))


def test_missing_model_dirs_are_clear_errors(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("VDGRAY_CACHE", str(tmp_path / "cache"))
    with pytest.raises(StorageError, match="model directory not found"):
        load_encoder(str(tmp_path / "nope"))
    with pytest.raises(StorageError, match="no model files"):
        checkpoint.local_model_dir(f"{s3_bucket}/empty")
    (tmp_path / "half").mkdir()
    with pytest.raises(DataFormatError, match="no config.json"):
        load_encoder(str(tmp_path / "half"))
