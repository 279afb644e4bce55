"""Serve over HTTP when a reference image's file goes away after `vdgray index` (a bucket
cleaned, a volume remounted): 404 naming the image_id when the file is gone, 503 when the
storage cannot read it, never a 500; other queries keep working."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from helpers.layouts import cirr_layout
from helpers.tiny_cir import save_tiny_cir

from vdgray.loopback import free_port
from vdgray.serve.cli import start, stop
from vdgray.serve.config import ServeConfig
from vdgray.stages.index import IndexConfig
from vdgray.stages.index import run as build_index

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory, ray_session):
    """CIRR val in the beside-captions layout, indexed with the image root found, served."""
    root = tmp_path_factory.mktemp("serve-gone")
    cirr, images = cirr_layout(root, "beside")
    model = str(root / "model")
    save_tiny_cir(model)
    index = str(root / "index")
    build_index(IndexConfig(model=model, gallery=cirr, split="val", output=index, batch_size=8))
    cfg = ServeConfig(model_uri=model, index_uri=index, port=free_port(), num_cpus=0.5,
                      max_replicas=1)
    url = start(cfg)
    try:
        yield {"url": url, "images": Path(images)}
    finally:
        stop()


def _search(url: str, image_id: str) -> httpx.Response:
    return httpx.post(url + "/search", json={"image_id": image_id, "text": "make it red",
                                             "k": 3}, timeout=60)


def test_a_deleted_image_is_404_naming_its_id(served):
    url, images = served["url"], served["images"]
    assert _search(url, "dev-0-2-img0").status_code == 200
    (images / "dev" / "dev-0-2-img0.png").unlink()
    r = _search(url, "dev-0-2-img0")
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["field"] == "image_id" and "'dev-0-2-img0'" in body["error"]
    assert "gone" in body["error"]
    assert _search(url, "dev-0-3-img0").status_code == 200  # the others still answer


def test_an_unreadable_image_is_503_naming_its_id(served):
    url, images = served["url"], served["images"]
    path = images / "dev" / "dev-0-4-img0.png"
    path.unlink()
    os.mkdir(path)  # there, but the storage cannot read it as a file
    r = _search(url, "dev-0-4-img0")
    assert r.status_code == 503, r.text
    assert r.json()["field"] == "image_id" and "'dev-0-4-img0'" in r.json()["error"]


def test_an_unknown_id_is_still_404(served):
    r = _search(served["url"], "dev-9-9-img9")
    assert r.status_code == 404 and "unknown image_id 'dev-9-9-img9'" in r.json()["error"]
