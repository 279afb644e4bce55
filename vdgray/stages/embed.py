"""`vdgray embed`: gallery images -> L2-normalised embeddings (Parquet shards + manifest).

Ray Data streams the gallery through two steps: decode + preprocess in plain tasks (cheap,
CPU, scales with the read), then the encoder in `gallery_embed`'s callable class on an actor
pool (the model loads once per actor; one GPU per actor on GPU clusters, a fraction of a CPU
here so read and decode tasks always have CPU left and the pipeline cannot starve). Images
that fail to decode are dropped from the stream by the decode task and written as tiny
(image_id, reason) side files, so the job never aborts on one bad image, never collects
images on the driver, and the manifest lists every failure: counts.images + counts.failed ==
gallery rows, checked.
"""

from __future__ import annotations

import time

import click
from pydantic import Field, field_validator, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, UseGpu, resolved
from vdgray.errors import IncompleteOutputError
from vdgray.gallery_embed import EncoderPool, embed_batches
from vdgray.layout import EMBEDDINGS_STAGE
from vdgray.runtime import RayConfig, ensure_ray, resolve_use_gpu
from vdgray.stage_options import TEST_MODELS, build_config, config_options

FAILURES_DIR = "_failures"


class EmbedConfig(StageConfig):
    """Settings of the embed stage."""

    gallery: str = Field(..., description="Gallery URI: synthetic world, Parquet (image_id, image), or image folder; local or s3://.")
    output: str = Field(..., description="Output prefix for the embeddings Parquet shards and _manifest.json.")
    model: str = Field(..., description=f"Encoder: a CLIP, SigLIP or BLIP model directory or s3:// URI (e.g. a train-encoder output). {TEST_MODELS}")
    batch_size: int = Field(64, ge=1, description="Images per encoder batch.")
    block_rows: int = Field(256, ge=1, description="Rows per streamed block (decode task unit).")
    concurrency: int = Field(1, ge=1, description="Encoder actors in the pool.")
    num_cpus_per_actor: float = Field(1.0, gt=0, description="CPUs reserved per encoder actor (fractional; leave some for decode tasks).")
    decode_num_cpus: float = Field(0.5, gt=0, description="CPUs reserved per decode task.")
    torch_threads: int | None = Field(None, ge=1, description="torch threads per actor (default: max(1, round(num_cpus_per_actor))).")
    use_gpu: UseGpu = Field("auto", description="One GPU per actor: auto (when the cluster has GPUs), true or false.")
    overwrite: bool = Field(False, description="Redo a finished output instead of returning it.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")

    @model_validator(mode="after")
    def _no_fusion(self):
        if self.decode_num_cpus == self.num_cpus_per_actor:
            raise ValueError(
                "decode_num_cpus must differ from num_cpus_per_actor (equal resources make Ray "
                "Data fuse decoding into the encoder actors, serialising decode and forward)"
            )
        return self

    @field_validator("gallery", "output")
    @classmethod
    def _uri(cls, v: str) -> str:
        return storage.absolute(v).rstrip("/")




def _processor_of(model: str):
    """The encoder's image processor, input size, dim and name, for the decode tasks."""
    from vdgray.models.registry import encoder_info

    return encoder_info(model)


def build_pipeline(cfg: EmbedConfig, src, failures_uri: str | None):
    """The lazy Ray Dataset read -> decode tasks -> encoder actors; returns (ds, dim, name)."""
    from vdgray.data.gallery import Decoder, read_gallery

    processor, image_size, dim, name = _processor_of(cfg.model)
    ensure_ray(cfg.ray)
    pool = EncoderPool(cfg.model, "image", cfg.batch_size, cfg.concurrency,
                       cfg.num_cpus_per_actor, resolve_use_gpu(cfg.use_gpu), cfg.torch_threads)
    pool.check({"read/decode": cfg.decode_num_cpus}, cfg.ray, cfg.output)
    ds = read_gallery(cfg.gallery, src, num_cpus=cfg.decode_num_cpus)
    # Small blocks keep the stream moving: Ray may read a whole small gallery as one block,
    # and one block decoded then encoded in turn would leave one CPU idle at every moment.
    ds = ds.repartition(target_num_rows_per_block=cfg.block_rows)
    # decode_num_cpus != num_cpus_per_actor (validated), so Ray Data never fuses decode into
    # the encoder actors: decode stays in tasks, running beside the model, not in turn.
    ds = ds.map_batches(
        Decoder(processor, image_size, failures_uri),
        batch_size=cfg.batch_size, batch_format="numpy", num_cpus=cfg.decode_num_cpus,
    )
    ds = embed_batches(ds, pool)
    return ds, dim, name


def run(cfg: EmbedConfig) -> dict:
    """Embed every decodable gallery image; returns a summary (counts, files, wall time)."""
    from vdgray.data.gallery import collect_failures, gallery_rows, resolve_gallery

    t0 = time.time()
    storage.ensure_bucket(cfg.output)
    if manifest.is_complete(cfg.output, EMBEDDINGS_STAGE) and not cfg.overwrite:
        doc = manifest.read_manifest(cfg.output, EMBEDDINGS_STAGE)
        click.echo(f"embed: {cfg.output} is already complete (set overwrite=true to redo)")
        return {"output": cfg.output, "skipped": True, **doc["counts"]}
    storage.delete_prefix(cfg.output)  # partial or overwritten output: start clean
    failures_uri = storage.join(cfg.output, FAILURES_DIR)

    src = resolve_gallery(cfg.gallery)
    n_rows = gallery_rows(src)
    ds, dim, name = build_pipeline(cfg, src, failures_uri)
    fs, path = storage.filesystem(cfg.output)
    ds.write_parquet(path, filesystem=fs)

    failures = collect_failures(failures_uri)
    storage.delete_prefix(failures_uri)
    rel = storage.list_relative(cfg.output, suffix=".parquet")
    files = [storage.join(cfg.output, r) for r in rel]
    n_ok = sum(storage.parquet_rows(f) for f in files)
    if n_ok + len(failures) != n_rows:
        raise IncompleteOutputError(
            f"{cfg.output}: {n_ok} embeddings + {len(failures)} failures != {n_rows} gallery rows "
            f"in {cfg.gallery} (duplicate image_ids in the gallery, or a lost batch)"
        )
    wall = time.time() - t0
    manifest.write_manifest(
        cfg.output, stage=EMBEDDINGS_STAGE, config=resolved(cfg), inputs={"gallery": cfg.gallery},
        counts={"images": n_ok, "failed": len(failures)}, files=rel, wall_time_s=wall,
        failures=failures, extra={"encoder": name, "dim": dim},
    )
    click.echo(f"embed: {n_ok} images embedded, {len(failures)} failed, dim {dim}, "
               f"{wall:.1f}s -> {cfg.output}")
    return {"output": cfg.output, "images": n_ok, "failed": len(failures), "dim": dim,
            "files": len(rel), "wall_time_s": wall}


@click.command("embed")
@config_options
@click.option("--gallery", default=None, help="Gallery URI (overrides gallery).")
@click.option("--output", "-o", default=None, help="Output URI (overrides output).")
@click.option("--model", default=None,
              help=f"Encoder model directory or s3:// URI (required; overrides model). {TEST_MODELS}")
def command(config_path, overrides, gallery, output, model):
    """Embed a gallery's images with an encoder (Ray Data; Parquet + manifest)."""
    cfg = build_config(EmbedConfig, config_path, overrides, gallery=gallery, output=output,
                       model=model)
    run(cfg)
