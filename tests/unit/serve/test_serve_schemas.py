"""Request validation, service config and the Serve application builder (no Ray started)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from pydantic import ValidationError

from vdgray.errors import ConfigError
from vdgray.retrieval.queries import (
    Query,
    QueryError,
    image_problem,
    text_problem,
    validate_query,
)
from vdgray.serve.config import ServeConfig
from vdgray.serve.schemas import BatchSearchRequest, SearchRequest


@pytest.fixture
def cfg(tmp_path):
    return ServeConfig(model_uri=str(tmp_path / "m"), index_uri=str(tmp_path / "i"),
                       max_image_bytes=100, max_text_chars=20, max_k=5, default_k=3)


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, "PNG")
    return buf.getvalue()


def _check(cfg, where="", **body):
    return validate_query(SearchRequest(**body), cfg, where)


def test_good_requests_become_queries(cfg):
    q = _check(cfg, image_id="img1", text="make it red")
    assert q == Query(text="make it red", k=3, image_id="img1")
    img = _png(4, 3)
    q = _check(cfg, image=base64.b64encode(img).decode(), text="bigger", k=5,
               exclude_reference=False)
    assert q.image == img and q.k == 5 and q.image_id is None and not q.exclude_reference


@pytest.mark.parametrize("body, status, field", [
    ({"text": "x"}, 400, "image"),
    ({"image_id": "a", "image": "aGk=", "text": "x"}, 400, "image"),
    ({"image_id": "", "text": "x"}, 400, "image_id"),
    ({"image_id": "a", "text": "  "}, 400, "text"),
    ({"image_id": "a", "text": "x" * 21}, 400, "text"),
    ({"image_id": "a", "text": "x", "k": 0}, 400, "k"),
    ({"image_id": "a", "text": "x", "k": 6}, 400, "k"),
    ({"image": "not base64!!", "text": "x"}, 400, "image"),
    ({"image": base64.b64encode(b"x" * 101).decode(), "text": "x"}, 413, "image"),
    ({"image": base64.b64encode(b"x" * 1000).decode(), "text": "x"}, 413, "image"),
    ({"image": "", "text": "x"}, 400, "image"),
    ({"image": base64.b64encode(b"\x89PNG fake").decode(), "text": "x"}, 400, "image"),
    ({"image_id": "a", "text": "\u0000\ud800 make it red"}, 400, "text"),
    ({"image_id": "a", "text": "make it\x07 red"}, 400, "text"),
])
def test_bad_requests_name_the_field(cfg, body, status, field):
    err = _check(cfg, "queries.2.", **body)
    assert isinstance(err, QueryError)
    assert err.status == status and err.field == f"queries.2.{field}"
    assert err.body()["error"].startswith(f"queries.2.{field}: ")


def test_request_models_reject_unknown_fields_and_wrong_types():
    with pytest.raises(ValidationError, match="colour"):
        SearchRequest(image_id="a", text="x", colour="red")
    with pytest.raises(ValidationError, match="k"):
        SearchRequest(image_id="a", text="x", k="many")
    with pytest.raises(ValidationError, match="queries"):
        BatchSearchRequest(items=[])


def test_config_rejects_conflicting_values(tmp_path):
    base = {"model_uri": str(tmp_path), "index_uri": str(tmp_path)}
    with pytest.raises(ValidationError, match="min_replicas"):
        ServeConfig(**base, min_replicas=3, max_replicas=2)
    with pytest.raises(ValidationError, match="default_k"):
        ServeConfig(**base, max_k=5, default_k=10)
    with pytest.raises(ValidationError, match="metrics_interval_s"):
        ServeConfig(**base, metrics_interval_s=30, look_back_period_s=30)
    cfg = ServeConfig(**base, min_replicas=0, max_replicas=4, target_ongoing_requests=8,
                      upscale_delay_s=2, downscale_delay_s=5, metrics_interval_s=0.5,
                      look_back_period_s=2, max_replicas_per_node=1)
    assert cfg.autoscaling() == {"min_replicas": 0, "max_replicas": 4, "initial_replicas": 1,
                                 "target_ongoing_requests": 8, "upscale_delay_s": 2,
                                 "downscale_delay_s": 5, "look_back_period_s": 2,
                                 "metrics_interval_s": 0.5}
    assert "metrics_interval_s" not in ServeConfig(**base).autoscaling()  # Serve's default
    from ray.serve.config import AutoscalingConfig

    AutoscalingConfig(**ServeConfig(**base).autoscaling())  # Serve accepts ours as they are
    assert cfg.deployment_options()["max_replicas_per_node"] == 1
    assert cfg.faiss_use_gpu() is False  # no GPU per replica: the index stays on the CPU


def test_application_builder_takes_string_args_and_names_bad_ones(tmp_path):
    from ray.serve import Application

    from vdgray.serve.app import app

    built = app({"model_uri": str(tmp_path / "m"), "index_uri": "s3://bucket/index",
                 "max_k": "50", "num_gpus": "0"})
    assert isinstance(built, Application)
    with pytest.raises(ConfigError, match="model_uri"):
        app({"index_uri": "s3://bucket/index"})
    with pytest.raises(ConfigError, match="max_kk"):
        app({"model_uri": "m", "index_uri": "i", "max_kk": 3})


def test_text_must_be_valid_unicode_without_control_characters():
    assert text_problem("make it red\tand\nbigger") is None
    assert text_problem("\u00e9t\u00e9 \u2192 hiver") is None
    assert text_problem("\ud800 make it red") == "not valid Unicode (lone surrogate at character 0)"
    assert text_problem("make\u0000 it") == "control character U+0000 at character 4"
    assert text_problem("x\x9b") == "control character U+009B at character 1"


def test_pixels_are_read_from_the_header_before_decoding():
    assert image_problem(_png(10, 10), max_pixels=100) is None
    status, why = image_problem(_png(11, 10), max_pixels=100)
    assert status == 413 and why == "11x10 = 110 pixels, at most 100 allowed"
    # 144 megapixels in a few KB: refused without decoding (a full decode takes seconds)
    big = _png(12_000, 12_000, mode="1")
    assert len(big) < 100_000
    status, why = image_problem(big, max_pixels=16_000_000)
    assert status == 413 and why.startswith("12000x12000 = 144000000 pixels")
    status, why = image_problem(b"not an image", max_pixels=100)
    assert status == 400 and why.startswith("cannot decode image: ")
