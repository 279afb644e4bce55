"""The shared gallery-embedding actor, called directly (no Ray): each input form, each side."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from vdgray import storage
from vdgray.gallery_embed import EmbedBatch, EncoderPoolFields, embedding_matrix


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _check_table(out: pa.Table, ids: list[str], dim: int) -> np.ndarray:
    assert out.schema.field("image_id").type == pa.string()
    assert out.schema.field("embedding").type == pa.list_(pa.float32(), dim)
    assert out.column("image_id").to_pylist() == ids
    emb = embedding_matrix(out)
    assert emb.shape == (len(ids), dim) and emb.dtype == np.float32
    return emb


def test_image_side_embeds_pixel_values_like_the_encoder():
    from vdgray.models.registry import load_encoder

    actor = EmbedBatch("tiny-clip", side="image")
    enc = load_encoder("tiny-clip")
    pixels = enc.preprocess([_png(0), _png(1)]).numpy()
    out = actor({"image_id": np.array(["a", "b"], dtype=object), "pixel_values": pixels})
    emb = _check_table(out, ["a", "b"], enc.dim)
    np.testing.assert_allclose(emb, enc.encode_images(enc.preprocess([_png(0), _png(1)])).numpy(),
                               atol=1e-5)


@pytest.fixture(scope="module")
def cir_dir(tmp_path_factory):
    from vdgray.models.cir import build_cir

    path = tmp_path_factory.mktemp("cir") / "m"
    build_cir("combiner", "tiny-clip").save(path)
    return str(path)


def test_target_side_reads_uris_and_decodes_bytes_dropping_bad_images(cir_dir, tmp_path):
    from vdgray.models.cir import load_cir

    actor = EmbedBatch(cir_dir, side="target")
    model = load_cir(cir_dir)
    want = model.encode_targets(model.preprocess([_png(0), _png(1)])).numpy()
    uris = []
    for i in range(2):
        uris.append(storage.join(str(tmp_path), f"{i}.png"))
        storage.write_bytes(uris[-1], _png(i))
    by_uri = actor({"image_id": np.array(["a", "b"], dtype=object),
                    "uri": np.array(uris, dtype=object)})
    np.testing.assert_allclose(_check_table(by_uri, ["a", "b"], model.dim), want, atol=1e-5)

    by_bytes = actor({"image_id": np.array(["a", "bad", "b", "none"], dtype=object),
                      "image": np.array([_png(0), b"\x89PNGxx", _png(1), None], dtype=object)})
    np.testing.assert_allclose(_check_table(by_bytes, ["a", "b"], model.dim), want, atol=1e-5)

    nothing = actor({"image_id": np.array(["bad"], dtype=object),
                     "image": np.array([b"nope"], dtype=object)})
    _check_table(nothing, [], model.dim)


def test_pool_fields_keep_the_keys_and_defaults_of_index_and_eval():
    from vdgray.stages.eval_cir import EvalConfig
    from vdgray.stages.index import IndexConfig

    shared = {"batch_size": 64, "concurrency": 1, "num_cpus_per_actor": 1.0}
    for cls in (IndexConfig, EvalConfig):
        assert issubclass(cls, EncoderPoolFields)
        for key, default in shared.items():
            assert cls.model_fields[key].default == default
        assert "ray" in cls.model_fields
