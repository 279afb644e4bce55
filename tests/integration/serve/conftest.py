"""The served tiny world every serve test and the search page's browser test query: a tiny
world's val split indexed by `vdgray index` and served by `vdgray serve`'s own start/stop, with
the offline evaluation's rankings for the same queries."""

from __future__ import annotations

import pytest
from helpers.tiny_cir import save_tiny_cir
from helpers.worlds import synth_world

from vdgray import storage
from vdgray.data.cirr import load_cirr
from vdgray.loopback import free_port
from vdgray.serve.cli import start, stop
from vdgray.serve.config import ServeConfig
from vdgray.stages.eval_cir import EvalConfig
from vdgray.stages.eval_cir import run as evaluate
from vdgray.stages.index import IndexConfig
from vdgray.stages.index import run as build_index_stage

MAX_IMAGE_BYTES = 50_000


@pytest.fixture(scope="module")
def served(tmp_path_factory, ray_session):
    """A tiny world's val split indexed by `vdgray index`, served; offline rankings too."""
    root = tmp_path_factory.mktemp("serve")
    world = synth_world(str(root / "world"), n_gallery=6, n_train=4, n_val=8, n_test=4)
    model = str(root / "model")
    save_tiny_cir(model)
    index = str(root / "index")
    summary = build_index_stage(IndexConfig(model=model, gallery=world, split="val",
                                            output=index, batch_size=8))
    ev = evaluate(EvalConfig(model=model, data={"format": "world", "root": world, "split": "val"},
                             output=str(root / "eval"), batch_size=8))
    rankings = storage.read_parquet(str(root / "eval" / "rankings.parquet")).to_pylist()
    cfg = ServeConfig(model_uri=model, index_uri=index, port=free_port(), num_cpus=0.5,
                      max_replicas=1, max_image_bytes=MAX_IMAGE_BYTES,
                      max_text_chars=200, max_k=20, max_batch_queries=4,
                      batch_wait_timeout_s=0.05)
    url = start(cfg)
    try:
        yield {"url": url, "cfg": cfg, "world": world, "index": summary, "eval": ev, "rankings": rankings,
               "split": load_cirr(f"{world}/cirr", "val")}
    finally:
        stop()
