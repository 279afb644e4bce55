"""The embed stage end to end on local Ray: a small gallery (one corrupt image) to S3 and back."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageDraw

from vdgray import manifest, storage
from vdgray.stages.embed import EmbedConfig, run

pytestmark = pytest.mark.integration

CORRUPT_ID = "img-0007"


def _png(i: int) -> bytes:
    rng = np.random.default_rng(i)
    img = Image.new("RGB", (64, 64), tuple(int(c) for c in rng.integers(0, 255, 3)))
    x, y = (int(v) for v in rng.integers(4, 40, 2))
    ImageDraw.Draw(img).ellipse([x, y, x + 20, y + 20], fill=(255, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_gallery(uri: str, n: int = 40, shards: int = 2) -> list[str]:
    """Parquet gallery with `shards` files; CORRUPT_ID holds truncated PNG bytes."""
    ids = [f"img-{i:04d}" for i in range(n)]
    data = [_png(i) for i in range(n)]
    data[ids.index(CORRUPT_ID)] = data[0][:50]  # a PNG header and nothing else
    per = (n + shards - 1) // shards
    for s in range(shards):
        table = pa.table({"image_id": pa.array(ids[s * per:(s + 1) * per], pa.string()),
                          "image": pa.array(data[s * per:(s + 1) * per], pa.binary())})
        storage.write_parquet(storage.join(uri, f"part-{s:05d}.parquet"), table)
    return ids


def test_embed_to_s3_reports_corrupt_image(ray_session, s3_bucket):
    ids = write_gallery(f"{s3_bucket}/gallery")
    out = f"{s3_bucket}/emb"
    cfg = EmbedConfig(gallery=f"{s3_bucket}/gallery", output=out, model="tiny-clip",
                      batch_size=8, num_cpus_per_actor=0.75)
    summary = run(cfg)

    doc = manifest.read_manifest(out, "embeddings")
    assert doc["counts"] == {"images": len(ids) - 1, "failed": 1}
    assert doc["dim"] == 32 and doc["encoder"] == "tiny-clip"
    assert [f["image_id"] for f in doc["failures"]] == [CORRUPT_ID]
    assert "decode" in doc["failures"][0]["reason"]
    assert summary["images"] == len(ids) - 1

    table = manifest.read_dataset(out, "embeddings")
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    assert sorted(table.column("image_id").to_pylist()) == sorted(set(ids) - {CORRUPT_ID})
    emb = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # No side files are left behind and every listed shard exists.
    assert not storage.list_files(storage.join(out, "_failures"))
    assert all(storage.exists(storage.join(out, f)) for f in doc["files"])


def test_embed_matches_direct_encoder_and_skips_finished(ray_session, tmp_path):
    from vdgray.models.registry import load_encoder

    gallery = tmp_path / "folder"
    gallery.mkdir()
    for i in range(6):
        (gallery / f"im{i}.png").write_bytes(_png(100 + i))
    out = str(tmp_path / "emb")
    cfg = EmbedConfig(gallery=str(gallery), output=out, model="tiny-clip", batch_size=4,
                      num_cpus_per_actor=0.75)
    run(cfg)
    table = manifest.read_dataset(out, "embeddings").sort_by("image_id")
    assert table.column("image_id").to_pylist() == [f"im{i}" for i in range(6)]

    enc = load_encoder("tiny-clip")
    direct = enc.encode_images(enc.preprocess([_png(100 + i) for i in range(6)])).numpy()
    got = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(got, direct, atol=1e-5)

    again = run(cfg)
    assert again["skipped"] is True
