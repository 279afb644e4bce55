"""`vdgray train-cir`: train the CIR retriever on human (+ pseudo) triplets, on Ray Train.

The paper's semi-supervised recipe: every step draws a human batch B and a pseudo batch B'
(`pseudo_ratio` pseudo rows per human row) and minimises L_c(B) + L_c(B ⊕ B') with HN-NCE
(plus TDM for BLIP); `pseudo: none` trains the supervised baseline with the same code.
`TorchTrainer` runs the loop (`train.cir_loop.train_loop`) with DDP over `num_workers`, checkpoints
every epoch to `storage_path` (local or s3://), recovers from worker failures
(`max_failures`) and, rerun with the same `name`, resumes from the latest checkpoint. The
final CIR model dir goes to `output` with a "cir-model" manifest (written last).
"""

from __future__ import annotations

from typing import Literal

import click
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vdgray.config import Uri
from vdgray.data.formats import AUTO, DataFormat
from vdgray.data.image_root import IMAGE_ROOT_HELP
from vdgray.layout import CIR_MODEL_STAGE
from vdgray.runtime import resolve_use_gpu
from vdgray.stage_options import TEST_MODELS, build_config, config_options
from vdgray.train.driver import Training, train_and_publish
from vdgray.train.ray_run import TrainRunConfig


class HumanData(BaseModel):
    """Where the human triplets come from."""

    model_config = ConfigDict(extra="forbid")

    format: DataFormat = Field(
        "auto", description="cirr (CIRR root), fashioniq (FashionIQ root), world (synthetic world URI; its cirr/ train split), or auto: detected from the root (a world's cirr/_manifest.json, captions/cap.rc2.*.json, captions/cap.<category>.*.json).")
    root: str = Field(..., description="Dataset root URI (local or s3://).")
    image_root: str | None = Field(None, description=IMAGE_ROOT_HELP)
    categories: list[str] | None = Field(None, description="FashionIQ categories (default: all three).")
    limit: int | None = Field(None, ge=2, description="Use only the first N human triplets (null: all).")


class CirModelSpec(BaseModel):
    """Which CIR model to train."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["combiner", "blip"] = Field("combiner", description="combiner (a CLIP or SigLIP dual encoder + Combiner) or blip (BLIP retrieval + TDM).")
    encoder: str = Field(..., description=f"Backbone: a CLIP or SigLIP (combiner) or BLIP retrieval (blip) model directory or s3:// URI (e.g. the world CLIP from train-encoder). {TEST_MODELS}")
    settings: dict = Field(default_factory=dict, description="Model settings: combiner {train_backbone: none|text|all, projection_dim, hidden_dim, dropout}; blip {tdm, negatives: argmax|sample}.")


class TrainCirConfig(TrainRunConfig):
    """Settings of `vdgray train-cir`."""

    human: HumanData = Field(..., description="Human triplets.")
    pseudo: str = Field("none", description="Pseudo triplets URI (stage 'triplets'), or 'none' for the supervised baseline.")
    pseudo_gallery: Uri | None = Field(None, description="Gallery holding the pseudo triplets' images: a folder of images or Parquet (image_id, image), as generate read it.")
    pseudo_ratio: float = Field(1.0, gt=0, description="Pseudo rows per human row in B' each step.")
    # Validated from {} when absent, so a missing backbone is reported as model.encoder.
    model: CirModelSpec = Field(default_factory=dict, validate_default=True, description="The model.")
    output: Uri = Field(..., description="Final CIR model dir URI (+ _manifest.json, stage 'cir-model').")
    epochs: int = Field(10, ge=1, description="Passes over the human triplets.")
    batch_size: int = Field(32, ge=2, description="Human triplets per worker per step (|B| per worker).")
    lr: float = Field(1e-4, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    warmup: float = Field(0.05, ge=0, lt=1, description="Fraction of steps of linear warm-up before the cosine decay.")
    temperature: float | None = Field(None, gt=0, description="Contrastive temperature (default: combiner 0.01, blip 0.07).")
    alpha: float = Field(1.0, ge=0, description="HN-NCE positive weight alpha.")
    beta: float | None = Field(None, ge=0, description="HN-NCE hardness beta (default: combiner 0 = InfoNCE, blip 0.5).")
    tdm_weight: float = Field(1.0, ge=0, description="Weight of the TDM loss (blip only).")
    seed: int = Field(0, ge=0, description="Seed of the init and the batch order.")
    checkpoint_every: int = Field(1, ge=1, description="Checkpoint every N epochs (and after the last); a resume repeats at most N - 1 epochs.")

    @model_validator(mode="after")
    def _check(self):
        if self.pseudo != "none" and not self.pseudo_gallery:
            raise ValueError("pseudo_gallery: required when pseudo is a triplets URI")
        if self.model.kind == "combiner" and self.model.encoder == "tiny-blip":
            raise ValueError("model.encoder: the combiner needs a CLIP backbone, not tiny-blip")
        if self.model.kind == "blip" and self.model.encoder == "tiny-clip":
            raise ValueError("model.encoder: the blip model needs a BLIP backbone, not tiny-clip")
        if self.human.categories and self.human.format not in ("fashioniq", AUTO):
            raise ValueError("human.categories: only for human.format=fashioniq")
        if self.human.root == self.output:
            raise ValueError("output: must differ from human.root")
        return self

    def default_run_name(self) -> str:
        return self.output.rsplit("/", 1)[-1] or "cir"

    def loop_config(self, torch_threads: int) -> dict:
        """The plain dict the workers get (defaults resolved per model kind)."""
        d = self.model_dump(mode="json", exclude={"ray"})
        d["beta"] = self.beta if self.beta is not None else (0.5 if self.model.kind == "blip"
                                                             else 0.0)
        d["torch_threads"] = torch_threads
        d["use_gpu"] = resolve_use_gpu(self.use_gpu)
        return d


def run(cfg: TrainCirConfig) -> dict:
    """Train, write the CIR model dir to `output`, return the last epoch's metrics."""
    from vdgray.train.cir_data import check_human
    from vdgray.train.cir_loop import train_loop

    human: dict = {}

    def check() -> None:  # before Ray starts: a layout error is one line, never a resume hint
        human.update(check_human(**cfg.human.model_dump()))

    def loop_config(threads: int) -> dict:  # the workers load what the check found
        d = cfg.loop_config(threads)
        d["human"].update(human)
        return d

    inputs = {"human": cfg.human.root}
    if cfg.pseudo != "none":
        inputs.update(pseudo=cfg.pseudo, pseudo_gallery=cfg.pseudo_gallery)
    return train_and_publish(cfg, Training(
        command="train-cir", stage=CIR_MODEL_STAGE, loop=train_loop,
        what=f"train-cir on {cfg.human.root}", loop_config=loop_config, inputs=inputs,
        check=check,
        counts=lambda m: {"human_triplets": int(m.get("human_triplets", 0)),
                          "pseudo_triplets": int(m.get("pseudo_triplets", 0))},
        extra={"kind": cfg.model.kind},
        summary=lambda m, wall: (
            f"train-cir: {cfg.model.kind} loss {m.get('loss', float('nan')):.4f} after "
            f"{m.get('epoch', 0)} epochs in {wall:.0f}s -> {cfg.output}"),
    ))


@click.command("train-cir")
@config_options
@click.option("--human", default=None, help="Human triplets root URI (overrides human.root).")
@click.option("--pseudo", default=None, help="Pseudo triplets URI or 'none' (overrides pseudo).")
@click.option("--output", "-o", default=None, help="Model output URI (overrides output).")
@click.option("--epochs", type=int, default=None, help="Epochs (overrides epochs).")
@click.option("--encoder", default=None,
              help=f"Backbone model directory or s3:// URI (required; overrides model.encoder). "
                   f"{TEST_MODELS}")
def command(config_path, overrides, human, pseudo, output, epochs, encoder):
    """Train the CIR retriever on human (+ pseudo) triplets (Ray Train, DDP)."""
    cfg = build_config(TrainCirConfig, config_path, overrides,
                       **{"human.root": human, "model.encoder": encoder},
                       pseudo=pseudo, output=output, epochs=epochs)
    run(cfg)
