"""`vdgray bench serve`: the retriever over HTTP (Ray Serve) against the same model in-process.

Setup: a synthetic world (or `--world`), a CIR model (`--model`, or an untrained combiner on
`--encoder`), `vdgray index` over the world's val split (real embeddings), then the index is
padded to `--gallery-size` vectors with random unit vectors whose ids say `synthetic-` (the
CPU cannot embed 100k images in a benchmark's time; search cost depends on the vector count,
not on where the vectors came from). Queries are real: val-split (reference id, caption)
pairs through the real model.

Measured: (1) in-process `Retriever.search` — one query per call, and `--batch` queries per
call; (2) the Serve app on loopback with batching on, then off, each at several
concurrencies, driven by a separate load-generator process (`vdgray.bench.serve_load`)
bounded by `--requests` and `--max-seconds` per level. Throughput, p50/p99 latency, errors
(must be 0), and the ratio of Serve's throughput to the in-process one (Serve's overhead).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import click
import numpy as np

from vdgray.loopback import free_port


def pad_index(index_uri: str, out_uri: str, size: int, seed: int = 0) -> dict:
    """Copy the real index's vectors to `out_uri`, padded with random unit vectors to `size`."""
    from vdgray import manifest, storage
    from vdgray.index import load_index
    from vdgray.layout import IDS_FILE, INDEX_FILE, INDEX_STAGE
    from vdgray.stages.index import write_index

    doc = manifest.read_manifest(index_uri, INDEX_STAGE)
    index = load_index(storage.join(index_uri, INDEX_FILE), use_gpu=False)
    real = index.reconstruct_n(0, index.ntotal)
    names = storage.read_parquet(storage.join(index_uri, IDS_FILE)).column("image_id").to_pylist()
    n_syn = max(0, size - len(names))
    rng = np.random.default_rng(seed)
    syn = rng.standard_normal((n_syn, real.shape[1])).astype(np.float32)
    syn /= np.linalg.norm(syn, axis=1, keepdims=True)
    info = doc["index"]
    return write_index(out_uri, names + [f"synthetic-{i:07d}" for i in range(n_syn)],
                       np.concatenate([real, syn]), model=info["model"], source=info["source"],
                       kind="auto", use_gpu=False,
                       extra={"real_vectors": len(names), "synthetic_vectors": n_syn})


def in_process(model: str, index: str, queries, batch: int, threads: int, requests: int,
               max_seconds: float) -> list[dict]:
    """Rows for the in-process Retriever: one query per call, and `batch` per call."""
    from vdgray.retrieval.retriever import Retriever

    r = Retriever(model, index, torch_threads=threads)
    r.search(queries[:batch])  # warm-up (first-call allocations)
    rows = []
    for size in (1, batch):
        lat, done = [], 0
        t0 = time.perf_counter()
        while done < requests and time.perf_counter() - t0 < max_seconds:
            qs = [queries[(done + j) % len(queries)] for j in range(size)]
            t1 = time.perf_counter()
            out = r.search(qs)
            lat.append(1000 * (time.perf_counter() - t1))
            assert all(isinstance(o, dict) for o in out)
            done += size
        wall = time.perf_counter() - t0
        rows.append({"path": f"in-process, {size} per call", "concurrency": 1, "requests": done,
                     "errors": 0, "qps": done / wall, "p50_ms": float(np.percentile(lat, 50)),
                     "p99_ms": float(np.percentile(lat, 99)), "mean_batch": float(size)})
    return rows


def load(url: str, bodies_file: str, concurrency: int, requests: int, max_seconds: float) -> dict:
    """Run the load generator in its own process; its JSON result."""
    cmd = [sys.executable, "-m", "vdgray.bench.serve_load", "--url", url, "--bodies",
           bodies_file, "--concurrency", str(concurrency), "--requests", str(requests),
           "--max-seconds", str(max_seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=max_seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _noop_rows(rows: list[dict], port: int, bodies_file: str, levels: list[int],
               requests: int, max_seconds: float) -> dict[int, float]:
    """Serve's floor here: the same load against a deployment that does no work; rows are
    appended, and {concurrency: qps} returned for the retriever's `qps_vs_noop_serve`."""
    from vdgray.bench.serve_noop import build_noop_app
    from vdgray.serve.cli import deploy, stop

    url = deploy(build_noop_app(num_cpus=1), name="noop", host="127.0.0.1", port=port)
    load(url, bodies_file, 4, 20, 20)  # warm-up
    floor = {}
    for c in levels:
        res = load(url, bodies_file, c, requests, max_seconds)
        if not res["ok"]:
            raise RuntimeError(f"the no-op Serve app answered no request: {res['errors']}")
        floor[c] = res["qps"]
        rows.append({"path": "serve, no-op app (floor)", "concurrency": c,
                     "requests": res["sent"], "errors": res["sent"] - res["ok"],
                     "qps": res["qps"], "p50_ms": res["p50_ms"], "p99_ms": res["p99_ms"],
                     "mean_batch": None, "qps_vs_in_process": None, "qps_vs_noop_serve": 1.0})
    stop()
    return floor


def _setup(tmp: str, world: str | None, model: str | None, encoder: str, n_val: int,
           gallery_size: int, threads: int) -> tuple[str, str, str, dict]:
    from vdgray.models.cir import build_cir
    from vdgray.stages.index import IndexConfig
    from vdgray.stages.index import run as index_run
    from vdgray.stages.synth import SynthConfig
    from vdgray.stages.synth import run as synth

    if world is None:
        world = os.path.join(tmp, "world")
        synth(SynthConfig(output=world, n_gallery=12, n_train=4, n_val=n_val, n_test=4,
                          progress=False))
    if model is None:
        model = os.path.join(tmp, "model")
        build_cir("combiner", encoder).eval().save(model)
    real = os.path.join(tmp, "index-real")
    index_run(IndexConfig(model=model, gallery=world, split="val", output=real, batch_size=64,
                          num_cpus_per_actor=1.0))
    index = os.path.join(tmp, "index")
    info = pad_index(real, index, gallery_size)
    return world, model, index, info


@click.command("serve")
@click.option("--world", default=None, help="Synthetic world URI (default: synthesise one).")
@click.option("--n-val", default=200, show_default=True, help="Val queries of a synthesised world.")
@click.option("--model", default=None, help="CIR model URI (default: untrained combiner on --encoder).")
@click.option("--encoder", default="tiny-clip", show_default=True, help="Backbone when --model is not given.")
@click.option("--gallery-size", default=100_000, show_default=True, help="Vectors in the served index (real + synthetic).")
@click.option("--concurrency", default="1,8,32", show_default=True, help="Client concurrencies.")
@click.option("--requests", default=300, show_default=True, help="Requests per level (upper bound).")
@click.option("--max-seconds", default=30.0, show_default=True, help="Seconds per level (upper bound).")
@click.option("--batch", default=32, show_default=True, help="max_batch_size when batching is on.")
@click.option("--threads", default=1, show_default=True, help="torch threads (server replica and in-process).")
@click.option("--out", "out", default="bench-results/serve.json", show_default=True, help="JSON output.")
def command(world, n_val, model, encoder, gallery_size, concurrency, requests, max_seconds,
            batch, threads, out):
    """Serve over HTTP (batching on/off) vs in-process: qps, p50/p99, errors."""
    import httpx

    from vdgray.bench.report import report
    from vdgray.retrieval.queries import Query
    from vdgray.runtime import RayConfig
    from vdgray.serve.cli import start, stop
    from vdgray.serve.config import ServeConfig

    model_arg = model
    levels = [int(c) for c in str(concurrency).split(",") if c.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        from vdgray.data.cirr import load_cirr
        from vdgray.layout import cirr_root
        from vdgray.runtime import ensure_ray

        ensure_ray(RayConfig(num_cpus=2))
        world, model, index, info = _setup(tmp, world, model, encoder, n_val, gallery_size,
                                           threads)
        split = load_cirr(cirr_root(world), "val")
        bodies = [{"image_id": q.reference, "text": q.caption, "k": 10} for q in split.queries]
        bodies_file = os.path.join(tmp, "bodies.json")
        with open(bodies_file, "w") as f:
            json.dump(bodies, f)
        queries = [Query(text=b["text"], k=10, image_id=b["image_id"]) for b in bodies]
        rows = in_process(model, index, queries, batch, threads, requests, max_seconds)
        base = {1: rows[0]["qps"], batch: rows[1]["qps"]}
        port = free_port()
        try:
            floor = _noop_rows(rows, port, bodies_file, levels, requests, max_seconds)
            for batching in (True, False):
                cfg = ServeConfig(model_uri=model, index_uri=index, port=port, num_cpus=1,
                                  torch_threads=threads, max_replicas=1, batching=batching,
                                  max_batch_size=batch, max_ongoing_requests=max(levels) * 2, ray=RayConfig(num_cpus=2))
                url = start(cfg)
                load(url, bodies_file, 4, 20, 20)  # warm-up
                for c in levels:
                    before = httpx.get(f"{url}/healthz", timeout=30).json()
                    res = load(url, bodies_file, c, requests, max_seconds)
                    after = httpx.get(f"{url}/healthz", timeout=30).json()
                    calls = after["forwards"] - before["forwards"]
                    ref = base[batch] if batching else base[1]
                    rows.append({"path": f"serve, batching {'on' if batching else 'off'}",
                                 "concurrency": c, "requests": res["sent"],
                                 "errors": res["sent"] - res["ok"], "qps": res["qps"],
                                 "p50_ms": res["p50_ms"], "p99_ms": res["p99_ms"],
                                 "mean_batch": (after["queries"] - before["queries"]) / calls
                                 if calls else None,
                                 "qps_vs_in_process": res["qps"] / ref,
                                 "qps_vs_noop_serve": res["qps"] / floor[c]})
                    if res["errors"]:
                        click.echo(f"errors at concurrency {c}: {res['errors']}", err=True)
                stop()  # a fresh start per mode: no measurement overlaps a replica swap
        finally:
            stop()
    meta = {"gallery_vectors": info["ntotal"], "real_vectors": info["real_vectors"],
            "synthetic_vectors": info["synthetic_vectors"], "index": info["faiss_type"],
            "dim": info["dim"], "model": model_arg or f"untrained combiner on {encoder}",
            "queries": len(bodies), "k": 10, "max_batch_size": batch, "torch_threads": threads,
            "replicas": 1, "cpus": os.cpu_count(),
            "note": "index = real val-split embeddings + random unit vectors (ids synthetic-*); "
                    "queries = real val (reference id, caption) through the real model; "
                    "qps_vs_in_process divides by the in-process rate at the same batching "
                    "(batching on: max_batch_size per call; off: 1 per call); "
                    "qps_vs_noop_serve divides by a Serve app that does no work (same route, "
                    "client and CPUs): the most any Serve app reaches on this machine"}
    report("serve", rows, out, meta)
