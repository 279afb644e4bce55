"""How fast one core renders the auxiliary gallery (scene + caption + image + PNG).

`python -m vdgray.data.synthetic.bench --n 3000 --size 64` prints images/s by wall clock and
by this process's CPU time (the per-core rate, meaningful even on a busy machine).
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from vdgray.data.synthetic.world import AuxRenderer


def render_throughput(n: int = 3000, size: int = 64, noise: float = 0.5) -> dict:
    """Render `n` aux images in one process; returns rates and the mean PNG size."""
    renderer = AuxRenderer(seed=0, image_size=size, noise=noise)
    renderer({"id": np.arange(50)})  # warm up imports and caches
    wall, cpu = time.perf_counter(), time.process_time()
    out = renderer({"id": np.arange(n)})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images": n, "image_size": size, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "images_per_s_wall": round(n / wall, 1), "images_per_s_cpu": round(n / cpu, 1),
            "mean_png_bytes": round(float(np.mean([len(b) for b in out["image"]])), 1)}


@click.command("synth-render")
@click.option("--n", default=3000, show_default=True, help="Images to render.")
@click.option("--size", default=64, show_default=True, help="Image side in pixels.")
@click.option("--noise", default=0.5, show_default=True, help="Jitter/pixel noise strength.")
def command(n, size, noise):
    """Benchmark single-core rendering of the synthetic gallery."""
    click.echo(json.dumps(render_throughput(n, size, noise)))


if __name__ == "__main__":
    command()
