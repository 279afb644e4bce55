"""`vdgray bench embed`: the embed stage's throughput against a plain torch loop, and FLOPs.

Same model, same N images, same torch threads, same batch size, in one run: (1) a plain
single-process loop doing exactly the stage's per-image work (decode + preprocess with the
same `Decoder`, then the encoder forward), model loaded before the clock starts; (2) the real
`vdgray embed` stage end to end on local Ray (read, decode tasks, encoder actors — model
load included — Parquet write, manifest). The ratio of images/s is the figure. The encoder's
FLOPs per image (torch's FlopCounterMode) against a measured float32 matmul rate says how
close the forward runs to this machine's compute limit.
"""

from __future__ import annotations

import io
import os
import tempfile
import time

import click
import numpy as np
import pyarrow as pa
import torch

from vdgray import storage


def synthetic_pngs(n: int, size: int = 64, seed: int = 0) -> list[bytes]:
    """N small PNGs with a coloured shape each (PNG decode cost like the synthetic world's)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 255, 3)))
        x, y, r = (int(v) for v in rng.integers(4, size // 2, 3))
        ImageDraw.Draw(img).ellipse([x, y, x + r, y + r], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        out.append(buf.getvalue())
    return out


def matmul_gflops(threads: int, n: int = 2048, reps: int = 5) -> float:
    """Best-of-`reps` float32 GFLOP/s of an n x n matmul with `threads` torch threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops_per_image(encoder, batch: int = 16) -> float:
    """Forward FLOPs of the image tower per image (matmuls/convs as counted by torch)."""
    from torch.utils.flop_counter import FlopCounterMode

    pixels = torch.zeros(batch, 3, encoder.image_size, encoder.image_size)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        encoder.image_features(pixels)
    return counter.get_total_flops() / batch


def pipeline_steady(cfg, gallery: str) -> tuple[float, float, int]:
    """(seconds to the first embedded batch, seconds for the rest, rows in the rest) of the
    stage's own Ray Data pipeline, consumed on the driver instead of written."""
    from vdgray.data.gallery import resolve_gallery
    from vdgray.stages.embed import build_pipeline

    ds, _, _ = build_pipeline(cfg, resolve_gallery(gallery), None)
    t0 = time.perf_counter()
    first_s, rest = None, 0
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        if first_s is None:
            first_s = time.perf_counter() - t0
            t1 = time.perf_counter()
        else:
            rest += batch.num_rows
    return first_s or 0.0, time.perf_counter() - t1, rest


def plain_loop(model: str, table: pa.Table, batch_size: int, threads: int) -> tuple[float, int]:
    """Seconds and images embedded by one process: decode + preprocess + forward per batch."""
    from vdgray.data.gallery import Decoder
    from vdgray.models.registry import load_encoder

    torch.set_num_threads(threads)
    enc = load_encoder(model)
    dec = Decoder(enc.processor, enc.image_size)
    ids = np.array(table.column("image_id").to_pylist(), dtype=object)
    images = np.array(table.column("image").to_pylist(), dtype=object)
    warm = dec({"image_id": ids[:batch_size], "image": images[:batch_size]})  # first-call costs
    enc.encode_images(torch.from_numpy(warm["pixel_values"]))
    t0 = time.perf_counter()
    done = 0
    for i in range(0, len(ids), batch_size):
        out = dec({"image_id": ids[i:i + batch_size], "image": images[i:i + batch_size]})
        done += enc.encode_images(torch.from_numpy(out["pixel_values"])).shape[0]
    return time.perf_counter() - t0, done


@click.command("embed")
@click.option("--n", "n", default=2000, show_default=True, help="Images.")
@click.option("--model", default="world-clip-random", show_default=True,
              help="Encoder name or model dir/URI (e.g. a train-encoder output).")
@click.option("--batch-size", default=64, show_default=True, help="Images per batch (both paths).")
@click.option("--threads", default=None, type=int, help="torch threads in both paths (default: CPUs - 1, at least 1).")
@click.option("--concurrency", default=1, show_default=True, help="Encoder actors.")
@click.option("--num-cpus-per-actor", default=1.0, show_default=True, help="CPUs reserved per actor.")
@click.option("--out", "out", default="bench-results/embed.json", show_default=True,
              help="JSON output (local path or s3:// URI).")
def command(n, model, batch_size, threads, concurrency, num_cpus_per_actor, out):
    """Ray Data embed stage vs a plain torch loop (images/s), FLOPs vs matmul peak."""
    from vdgray.bench.report import report
    from vdgray.models.registry import load_encoder
    from vdgray.runtime import RayConfig, ensure_ray
    from vdgray.stages.embed import EmbedConfig, run

    cpus = os.cpu_count() or 1
    threads = threads or max(1, cpus - 1)
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_pngs(n)
        table = pa.table({"image_id": [f"img-{i:06d}" for i in range(n)],
                          "image": pa.array(data, pa.binary())})
        gallery = os.path.join(tmp, "gallery")
        per = max(1, n // max(2, cpus * 2))
        for s, i in enumerate(range(0, n, per)):
            storage.write_parquet(os.path.join(gallery, f"part-{s:05d}.parquet"), table.slice(i, per))

        plain_s, plain_n = plain_loop(model, table, batch_size, threads)
        ensure_ray(RayConfig())
        cfg = EmbedConfig(gallery=gallery, output=os.path.join(tmp, "emb"), model=model,
                          batch_size=batch_size, concurrency=concurrency,
                          num_cpus_per_actor=num_cpus_per_actor, torch_threads=threads)
        t0 = time.perf_counter()
        summary = run(cfg)
        ray_s = time.perf_counter() - t0
        first_s, steady_s, steady_n = pipeline_steady(cfg, gallery)

    enc = load_encoder(model)
    fpi = flops_per_image(enc)
    peak = matmul_gflops(threads)
    plain_ips, ray_ips = plain_n / plain_s, summary["images"] / ray_s
    rows = [
        {"path": "plain torch loop", "images": plain_n, "seconds": plain_s, "images_per_s": plain_ips,
         "gflops_per_s": fpi * plain_ips / 1e9, "pct_of_matmul_peak": 100 * fpi * plain_ips / 1e9 / peak},
        {"path": "ray data embed stage", "images": summary["images"], "seconds": ray_s,
         "images_per_s": ray_ips, "gflops_per_s": fpi * ray_ips / 1e9,
         "pct_of_matmul_peak": 100 * fpi * ray_ips / 1e9 / peak},
    ]
    meta = {"model": model, "n": n, "batch_size": batch_size, "torch_threads": threads,
            "concurrency": concurrency, "num_cpus_per_actor": num_cpus_per_actor,
            "ratio_end_to_end": ray_ips / plain_ips,
            "ray_first_batch_s": first_s, "ray_rest_s": steady_s, "ray_rest_images": steady_n, "mflops_per_image": fpi / 1e6,
            "matmul_gflops_per_s": peak,
            "note": "end to end includes actor start, model load, Parquet write and manifest; "
                    "first batch = latency to the first embedded block (actor start + model load); "
                    "rows after it were mostly buffered meanwhile, so no steady rate is claimed"}
    report("embed", rows, out, meta)
