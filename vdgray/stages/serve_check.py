"""The demo's serve check: start the retriever on localhost, ask it real questions, stop it.

A few queries of a world's split (reference image + modification text, the true target known)
go over real HTTP: all but one by gallery `image_id` through `POST /search`, and the last
with the reference image sent as base64 through `POST /search/batch`. Each answer is printed
with the true target's rank, so the demo shows the service working end to end, not only
starting. The index must cover the split's images (`vdgray index --split <split>`).
"""

from __future__ import annotations

import base64
import time
from typing import Literal

import click
from pydantic import Field

from vdgray.config import StageConfig, Uri
from vdgray.layout import cirr_root
from vdgray.loopback import free_port
from vdgray.runtime import RayConfig
from vdgray.stage_options import build_config, config_options


class ServeCheckConfig(StageConfig):
    """Settings of the demo's serve check."""

    model: Uri = Field(..., description="CIR model dir URI.")
    index: Uri = Field(..., description="Index URI (vdgray index over the world's `split`).")
    world: Uri = Field(..., description="Synthetic world URI (its cirr/ split gives the queries).")
    split: Literal["val", "test1"] = Field("val", description="Split the queries come from (test1 targets from truth/).")
    queries: int = Field(5, ge=1, le=100, description="Queries to send.")
    k: int = Field(10, ge=1, le=100, description="Results per query.")
    port: int | None = Field(None, ge=1, le=65535, description="Local HTTP port (default: a free one).")
    num_cpus: float = Field(0.5, ge=0, description="CPUs of the Retriever replica.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")


def _queries(cfg: ServeCheckConfig):
    from vdgray.data.cirr import load_cirr
    from vdgray.data.synthetic.truth import world_test1_targets

    split = load_cirr(cirr_root(cfg.world), cfg.split)
    qs = split.queries[:cfg.queries]
    targets = ([q.target for q in qs] if cfg.split == "val"
               else world_test1_targets(cfg.world, qs))
    return split, list(zip(qs, targets, strict=True))


def run(cfg: ServeCheckConfig) -> dict:
    """Serve, query over HTTP, report hits; returns {"url", "queries", "hits", "results"}."""
    import httpx

    from vdgray.serve.cli import start, stop
    from vdgray.serve.config import ServeConfig

    t0 = time.time()
    split, pairs = _queries(cfg)
    scfg = ServeConfig(model_uri=cfg.model, index_uri=cfg.index, port=cfg.port or free_port(),
                       num_cpus=cfg.num_cpus, max_replicas=1,
                       max_k=max(100, cfg.k), ray=cfg.ray)
    url = start(scfg)
    click.echo(f"serve-check: retriever up at {url} in {time.time() - t0:.1f}s")
    results = []
    try:
        for i, (q, target) in enumerate(pairs):
            if i < len(pairs) - 1 or len(pairs) == 1:
                r = httpx.post(f"{url}/search", timeout=60,
                               json={"image_id": q.reference, "text": q.caption, "k": cfg.k})
                how, answer = "POST /search (image_id)", r.json()
            else:
                image = base64.b64encode(split.read_image(q.reference)).decode()
                r = httpx.post(f"{url}/search/batch", timeout=60, json={"queries": [
                    {"image": image, "text": q.caption, "k": cfg.k + 1}]})
                how, answer = "POST /search/batch (base64 image)", r.json()
                if r.status_code == 200:  # the sent image has no id: drop its gallery copy
                    hits = [h for h in answer["responses"][0]["results"]
                            if h["image_id"] != q.reference][:cfg.k]
                    answer = {"results": hits, "k": cfg.k}
            if r.status_code != 200:
                raise RuntimeError(f"serve-check: {how} answered HTTP {r.status_code}: "
                                   f"{answer}")
            ids = [h["image_id"] for h in answer["results"]]
            rank = ids.index(target) + 1 if target in ids else None
            results.append({"pairid": q.pairid, "reference": q.reference, "text": q.caption,
                            "target": target, "top": ids[:3], "target_rank": rank})
            click.echo(f"  {how}: {q.reference} + {q.caption!r} -> top3 {ids[:3]} | target "
                       f"{target} {'rank ' + str(rank) if rank else 'not in top ' + str(cfg.k)}")
    finally:
        stop()
    hits = sum(r["target_rank"] is not None for r in results)
    click.echo(f"serve-check: target in top-{cfg.k} for {hits}/{len(results)} queries; "
               f"service stopped ({time.time() - t0:.1f}s)")
    return {"url": url, "queries": len(results), "hits": hits, "k": cfg.k, "results": results,
            "wall_time_s": time.time() - t0}


@click.command("serve-check")
@config_options
def command(config_path, overrides):
    """Start the retriever locally, send a few real queries, print the answers, stop."""
    run(build_config(ServeCheckConfig, config_path, overrides))
