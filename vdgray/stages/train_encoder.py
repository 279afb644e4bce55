"""`vdgray train-encoder`: a small CLIP trained from scratch on a synthetic world, on Ray Train.

The world's captions say exactly what is in each image, so a tiny CLIP learns the joint
space in minutes on a CPU. Ray Train's `TorchTrainer` runs the loop with DDP over
`num_workers` (CPU here, one GPU each on clusters), checkpoints every epoch to
`storage_path` (local or s3://) and, rerun with the same `name`, resumes from the latest
checkpoint. Each epoch prints the loss and held-out zero-shot text->image R@1/R@5 (with the
chance level), so it is visible that the model learned. The final model dir (CLIPModel +
tokenizer + image processor, HF format) goes to `output` with a "model" manifest.
"""

from __future__ import annotations

import click
from pydantic import Field, model_validator

from vdgray import manifest, storage
from vdgray.config import Uri
from vdgray.data.synthetic.attributes import SHAPES
from vdgray.errors import ConfigError
from vdgray.layout import ENCODER_STAGE, GALLERY, GALLERY_STAGE, world_part
from vdgray.stage_options import build_config, config_options
from vdgray.train.driver import Training, train_and_publish
from vdgray.train.ray_run import TrainRunConfig


class TrainEncoderConfig(TrainRunConfig):
    """Settings of `vdgray train-encoder`."""

    world: Uri = Field(..., description="Synthetic world URI (reads gallery/ and captions/).")
    output: Uri = Field(..., description="Where the final HF model dir and its _manifest.json go (local or s3://).")
    epochs: int = Field(10, ge=1, description="Passes over the training pairs.")
    batch_size: int = Field(64, ge=2, description="Pairs per worker per step (the contrastive batch).")
    lr: float = Field(1e-3, gt=0, description="Peak AdamW learning rate (linear warm-up, cosine decay).")
    weight_decay: float = Field(0.05, ge=0, description="AdamW weight decay.")
    hidden: int = Field(160, ge=16, description="Width of both towers.")
    layers: int = Field(3, ge=1, description="Transformer layers per tower.")
    heads: int = Field(4, ge=1, description="Attention heads.")
    patch_size: int = Field(8, ge=2, description="Vision patch side in pixels.")
    projection_dim: int = Field(128, ge=8, description="Joint embedding size.")
    max_length: int = Field(32, ge=8, description="Caption tokens (text positions).")
    seed: int = Field(0, ge=0, description="Seed of the init, the shuffles and the held-out split.")
    holdout: float = Field(0.1, gt=0, lt=0.9, description="Fraction of pairs held out for R@K.")
    scene_loss: float = Field(
        0.0, ge=0, description="Weight of an auxiliary loss that reads each 3x3 cell's shape, "
        "colour and size and the background from the vision tower's patch tokens (the ones the "
        "VDG reads); needs a world's scene attributes. 0: contrastive loss only.")
    rendered_pairs: int = Field(
        0, ge=0, description="New image-caption pairs rendered for every epoch from the world's "
        "scene distribution under another seed (the stand-in for a large pretraining corpus; "
        "a small ViT needs ~10^5 images to learn object shape). 0: gallery pairs only.")

    @model_validator(mode="after")
    def _check(self):
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if 64 % self.patch_size:
            raise ValueError(f"patch_size ({self.patch_size}) must divide the image size 64")
        if self.output == self.world:
            raise ValueError("output: must differ from world")
        return self

    def default_run_name(self) -> str:
        return self.output.rsplit("/", 1)[-1] or "encoder"


def run(cfg: TrainEncoderConfig) -> dict:
    """Train, write the model dir to `output`, return the final metrics."""
    from vdgray.train.encoder_loop import train_loop

    def loop_config(threads: int) -> dict:
        return {**cfg.model_dump(mode="json", exclude={"ray"}), "torch_threads": threads,
                "world_config": (_world_config(cfg.world)
                                 if cfg.rendered_pairs or cfg.scene_loss else {})}

    return train_and_publish(cfg, Training(
        command="train-encoder", stage=ENCODER_STAGE, loop=train_loop,
        what=f"train-encoder on {cfg.world}", loop_config=loop_config,
        inputs={"world": cfg.world},
        counts=lambda m: {"train_pairs": int(m.get("train_pairs", 0)),
                          "holdout_pairs": int(m.get("holdout_pairs", 0)),
                          "rendered_pairs": cfg.rendered_pairs * cfg.epochs},
        extra={"model_class": "CLIPModel"},
        summary=lambda m, wall: (
            f"train-encoder: loss {m.get('loss', float('nan')):.3f} "
            f"R@1 {m.get('R@1', 0):.3f} R@5 {m.get('R@5', 0):.3f} "
            f"(chance {m.get('chance_R@5', 0):.3f}) zero-shot shape "
            f"{m.get('zs_shape', 0):.2f} (chance {1 / len(SHAPES):.2f}) in {wall:.0f}s "
            f"-> {cfg.output}"),
    ))


def _world_config(world: str) -> dict:
    """The synth settings rendered pretraining pairs must share (from the gallery manifest)."""
    from vdgray.train.encoder_render import RENDERER_KEYS

    doc = manifest.read_manifest(world_part(world, GALLERY), GALLERY_STAGE)
    config = doc.get("config") or {}
    missing = [k for k in RENDERER_KEYS if k not in config]
    if missing:
        raise ConfigError(f"rendered_pairs / scene_loss: {storage.join(world, 'gallery')}"
                          f"/_manifest.json has no synth settings {missing}; both need a world "
                          "written by `vdgray synth` (set them to 0 for other galleries)")
    return {k: config[k] for k in RENDERER_KEYS}


@click.command("train-encoder")
@config_options
@click.option("--world", default=None, help="Synthetic world URI (overrides world).")
@click.option("--output", "-o", default=None, help="Model output URI (overrides output).")
@click.option("--epochs", type=int, default=None, help="Epochs (overrides epochs).")
def command(config_path, overrides, world, output, epochs):
    """Train a small CLIP from scratch on a synthetic world (Ray Train, DDP)."""
    cfg = build_config(TrainEncoderConfig, config_path, overrides, world=world, output=output,
                       epochs=epochs)
    run(cfg)
