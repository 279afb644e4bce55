"""`vdgray synth`: write a synthetic CIR world (gallery, captions, CIRR splits, truth) to a URI.

The layout is the contract in vdgray/layout.py: gallery/ and captions/ (Parquet shards
written on Ray Data), cirr/ (official CIRR rc2 format), truth/ (every image's attributes and
every query's true changes), and W/_manifest.json written last of all.
"""

from __future__ import annotations

import time

import click
import pyarrow.fs as pafs
from pydantic import Field

from vdgray import layout, manifest, storage
from vdgray.config import StageConfig, Uri, resolved
from vdgray.data.synthetic.cirr_writer import write_cirr, write_truth_images, write_truth_queries
from vdgray.data.synthetic.gallery_writer import write_gallery
from vdgray.data.synthetic.world import plan_split
from vdgray.errors import StorageError
from vdgray.runtime import RayConfig, ensure_ray
from vdgray.stage_options import build_config, config_options

PARTS = layout.WORLD_PARTS


class SynthConfig(StageConfig):
    """Settings of one synthetic world; the same seed and sizes give the same bytes."""

    output: Uri = Field(description="World URI W (local path or s3://bucket/prefix).")
    seed: int = Field(0, ge=0, description="Seed of every scene, image and text in the world.")
    image_size: int = Field(64, ge=16, le=1024, description="Image side in pixels (square RGB).")
    n_gallery: int = Field(2000, ge=1, description="Images in the unlabeled auxiliary gallery.")
    n_train: int = Field(300, ge=1, description="Human triplets (queries of the CIRR train split).")
    n_val: int = Field(200, ge=1, description="Queries of the CIRR val split.")
    n_test: int = Field(200, ge=1, description="Queries of the CIRR test1 split.")
    two_object_prob: float = Field(0.3, ge=0, le=1, description="Probability a scene has two objects.")
    two_change_prob: float = Field(
        0.3, ge=0, le=1, description="Probability a delta (and a perturbation) has two changes."
    )
    noise: float = Field(
        0.5, ge=0, le=1,
        description="Strength of per-image jitter and pixel noise (0: equal scenes, equal pixels).",
    )
    shard_rows: int = Field(5000, ge=1, description="Gallery rows per Parquet shard (one Ray task).")
    queries_per_group: int = Field(
        4, ge=1, le=20, description="Queries drawn from each CIRR group of 6 images."
    )
    aux_family_size: int = Field(
        4, ge=1, description="Aux images per family (a base scene and its 1-2 change variants)."
    )
    workers: int | None = Field(
        None, ge=1, description="Gallery writer actors (default: the Ray cluster's CPUs)."
    )
    progress: bool = Field(True, description="Show progress bars.")
    overwrite: bool = Field(False, description="Replace a finished world at `output`.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Where the gallery is rendered.")


def _delete_file(uri: str) -> None:
    fs, path = storage.filesystem(uri)
    try:
        if fs.get_file_info(path).type == pafs.FileType.File:
            fs.delete_file(path)
    except OSError as e:
        raise StorageError(f"{uri}: cannot delete ({e})") from None


def prepare_output(cfg: SynthConfig) -> str:
    """Check the URI, refuse to replace a finished world unless asked, clear partial parts."""
    world = storage.check_uri(cfg.output).rstrip("/")
    storage.ensure_bucket(world)
    muri = manifest.manifest_uri(world)
    if storage.exists(muri):
        doc = manifest.read_manifest(world)
        if doc["stage"] != layout.SYNTH_STAGE:
            raise StorageError(f"{world}: holds the output of stage {doc['stage']!r}, not a world")
        if not cfg.overwrite:
            raise StorageError(
                f"{world}: a finished synthetic world is already there "
                "(set overwrite=true to replace it)"
            )
        _delete_file(muri)  # first, so an interrupted rewrite never looks finished
    for part in PARTS:
        storage.delete_prefix(storage.join(world, part))
    return world


def run(cfg: SynthConfig) -> dict:
    """Write the whole world; returns a summary {"output", "counts", "wall_time_s"}."""
    t0 = time.time()
    world = prepare_output(cfg)
    config = resolved(cfg)
    gallery = layout.world_part(world, layout.GALLERY)
    captions = layout.world_part(world, layout.CAPTIONS)
    cirr, truth = layout.cirr_root(world), layout.world_part(world, layout.TRUTH)

    ensure_ray(cfg.ray)
    renderer = {"seed": cfg.seed, "image_size": cfg.image_size, "noise": cfg.noise,
                "two_object_prob": cfg.two_object_prob, "two_change_prob": cfg.two_change_prob,
                "family_size": cfg.aux_family_size}
    shards = write_gallery(gallery, captions, cfg.n_gallery, cfg.shard_rows, cfg.workers,
                           renderer)
    files = [s["file"] for s in shards]
    n_aux = sum(s["rows"] for s in shards)
    if n_aux != cfg.n_gallery:
        raise StorageError(f"{gallery}: wrote {n_aux} images, expected {cfg.n_gallery}")
    t_gallery = time.time() - t0
    manifest.write_manifest(gallery, stage=layout.GALLERY_STAGE, config=config,
                            counts={"rows": n_aux}, files=files, wall_time_s=t_gallery,
                            extra={"image_size": cfg.image_size})
    manifest.write_manifest(captions, stage=layout.CAPTIONS_STAGE, config=config,
                            counts={"rows": n_aux}, files=files, wall_time_s=t_gallery)

    plans = [plan_split(split, n, cfg.seed, cfg.two_object_prob, cfg.two_change_prob,
                        cfg.queries_per_group)
             for split, n in (("train", cfg.n_train), ("val", cfg.n_val), ("test1", cfg.n_test))]
    cirr_counts, cirr_files = write_cirr(cirr, plans, cfg.seed, cfg.image_size, cfg.noise,
                                         progress=cfg.progress)
    manifest.write_manifest(cirr, stage=layout.CIRR_STAGE, config=config, counts=cirr_counts,
                            files=cirr_files, extra={"image_size": cfg.image_size})

    n_images = write_truth_images(layout.truth_file(world, layout.TRUTH_IMAGES), plans,
                                  [storage.join(captions, f) for f in files])
    n_queries = write_truth_queries(layout.truth_file(world, layout.TRUTH_QUERIES), plans)
    manifest.write_manifest(truth, stage=layout.TRUTH_STAGE, config=config,
                            counts={"images": n_images, "queries": n_queries},
                            files=[layout.TRUTH_IMAGES, layout.TRUTH_QUERIES])

    counts = {"gallery": n_aux, "gallery_shards": len(files), **cirr_counts,
              "truth_images": n_images, "truth_queries": n_queries}
    wall = time.time() - t0
    manifest.write_manifest(world, stage=layout.SYNTH_STAGE, config=config, counts=counts,
                            files=[f"{p}/{manifest.MANIFEST_NAME}" for p in PARTS],
                            wall_time_s=wall, extra={"image_size": cfg.image_size,
                                                     "parts": list(PARTS)})
    return {"output": world, "counts": counts, "wall_time_s": round(wall, 3)}


@click.command("synth")
@click.option("--output", "-o", default=None, metavar="URI",
              help="Where to write the world (local path or s3://bucket/prefix).")
@config_options
def command(output, config_path, overrides):
    """Write a synthetic CIR world (gallery, captions, CIRR splits, truth) to a URI."""
    cfg = build_config(SynthConfig, config_path, overrides, output=output)
    storage.check_uri(cfg.output)  # a bad URI fails before Ray starts
    summary = run(cfg)
    c = summary["counts"]
    click.echo(f"wrote synthetic world to {summary['output']} in {summary['wall_time_s']:.1f}s")
    click.echo(f"  gallery: {c['gallery']} images in {c['gallery_shards']} shards (+ captions)")
    for split in ("train", "val", "test1"):
        click.echo(f"  cirr {split}: {c[f'{split}_queries']} queries, {c[f'{split}_images']} images")
    click.echo(f"  truth: {c['truth_images']} images, {c['truth_queries']} queries")
