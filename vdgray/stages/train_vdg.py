"""`vdgray train-vdg --stage lm|align|instruct`: the VDG's training stages on Ray Train V2.

- `align` (paper stage 1): only the projector learns, next-token loss on image captions.
- `instruct` (paper stage 2): projector + LoRA on the LM, two images per sample, loss on the
  delta only, on the human triplets (CIRR train split).
- `lm`: text-only pre-training of a from-scratch world LM on the world's captions and deltas.
  Measured on the default world, it hurts: after it, align never taught the LM to read the
  image beyond the first caption word (held-out background word at chance, 0.27, after 4
  epochs), and the VDG's deltas ignored the images. The demo therefore skips it and runs
  `align` on the freshly assembled model with the LM unfrozen and `text_mix` (the human
  deltas as plain text in the same batches): the LM learns language and images together,
  and reads the background at 1.00 after one epoch. A real run starts from a pre-trained LLM
  and skips `lm` as well.

One `TorchTrainer` runs `train.vdg_loop.train_loop` with DDP over `num_workers`; checkpoints
go to `RunConfig(storage_path)` (local or s3://), `FailureConfig(max_failures)` restarts from
the latest one, and a re-run with the same `name` resumes from it. The final model goes to
`output` as a HF LLaVA dir (+ `adapter/` for instruct) with a "vdg-model" manifest. Each
epoch line carries a check that the loss alone cannot give: align's reading probe
(`train.vdg_probe`) and instruct's held-out loss with the target shown and hidden
(`train.vdg_heldout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vdgray import storage
from vdgray.config import Uri
from vdgray.data.image_root import IMAGE_ROOT_HELP
from vdgray.errors import ConfigError, StorageError
from vdgray.layout import VDG_MODEL_STAGE as MODEL_STAGE
from vdgray.models.vdg.stages import LORA_TARGETS, STAGES
from vdgray.stage_options import build_config, config_options
from vdgray.train.driver import Training, train_and_publish
from vdgray.train.ray_run import TrainRunConfig


class LoraSettings(BaseModel):
    """LoRA on the language model (paper: r=64, alpha=16, dropout=0.05)."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(64, ge=1, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(list(LORA_TARGETS),
                                      description="LM linear layer names that get adapters.")


class TrainVdgConfig(TrainRunConfig):
    """Settings of `vdgray train-vdg`."""

    stage: str = Field(..., description="lm | align | instruct.")
    model: Uri = Field(..., description="Input VDG dir (local or s3://): assembled or previous stage.")
    output: Uri = Field(..., description="Output VDG dir (local or s3://).")
    world: Uri | None = Field(None, description="Synthetic world URI (lm, align; default cirr root).")
    cirr: Uri | None = Field(None, description="CIRR root for instruct (default <world>/cirr).")
    image_root: Uri | None = Field(None, description=IMAGE_ROOT_HELP)
    split: str = Field("train", description="CIRR split of the human triplets (instruct).")
    val_split: str | None = Field("val", description="instruct: CIRR split whose pairs give a "
                                  "held-out loss every epoch, with the true target and with it "
                                  "hidden (null: skip).")
    val_limit: int | None = Field(300, ge=1, description="instruct: held-out pairs used (null: all).")
    epochs: int = Field(3, ge=1, description="Passes over the stage's data.")
    batch_size: int = Field(16, ge=1, description="Examples per worker per micro-batch.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    lr: float = Field(1e-3, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    schedule: str = Field("cosine", description="cosine | step (after linear warm-up).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Fraction of steps of warm-up.")
    step_size: int = Field(0, ge=0, description="Step schedule: steps between decays (0: an epoch).")
    gamma: float = Field(0.1, gt=0, le=1, description="Step schedule: decay factor.")
    max_length: int = Field(256, ge=8, description="Tokens per example (image tokens included).")
    limit: int | None = Field(None, ge=1, description="Use only the first N examples (tests).")
    text_mix: int = Field(0, ge=0, description="align: also train on the human deltas of `split` "
                          "as plain text, this many copies per epoch (a from-scratch world LM "
                          "learns the delta language here; see train-vdg's docstring).")
    response: Literal["delta", "describe"] = Field(
        "delta", description="What the VDG writes: delta (the paper's) or describe (synthetic "
        "world only: 'before: <caption> after: <caption> change: <delta>'; generate keeps the "
        "delta). Set it on align (its priors take that form) and instruct alike.")
    prior_texts: int = Field(0, ge=0, description="align/instruct, describe: this many text-only "
                             "(caption, caption, change) examples of fresh world scenes in the "
                             "batches: the world LM's language prior (data/synthetic/prior.py), "
                             "learnt or rehearsed.")
    rendered_pairs: int = Field(0, ge=0, description="align, describe: this many freshly rendered "
                                "image pairs described in the two-image frame (more stage-1 "
                                "data; never a delta).")
    unfreeze_lm: bool = Field(False, description="Also train all LM weights in align/instruct "
                              "(a from-scratch world LM; the paper keeps the LLM frozen).")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA (instruct only).")
    bf16: bool = Field(True, description="bf16 autocast on GPU workers (ignored on CPU).")
    seed: int = Field(0, ge=0, description="Seed of the data order and LoRA init.")
    checkpoint_every: int = Field(0, ge=0, description="Also checkpoint every N steps (0: epochs only).")
    fail_at_step: int | None = Field(None, ge=1, description="Testing: fail once at this step (not after a resume).")

    @model_validator(mode="after")
    def _check(self):
        if self.stage not in STAGES:
            raise ValueError(f"stage: {self.stage!r} is not one of {', '.join(STAGES)}")
        if self.schedule not in ("cosine", "step"):
            raise ValueError(f"schedule: {self.schedule!r} is not cosine or step")
        if self.stage in ("lm", "align") and not self.world:
            raise ValueError(f"world: required for stage {self.stage}")
        if self.text_mix and self.stage != "align":
            raise ValueError(f"text_mix: only stage align mixes text in, not {self.stage}")
        if self.rendered_pairs and (self.stage != "align" or self.response != "describe"):
            raise ValueError("rendered_pairs: only stage align with response describe uses it")
        if self.prior_texts and (self.stage == "lm" or self.response != "describe"):
            raise ValueError("prior_texts: only stages align and instruct with response "
                             "describe use it")
        if self.response == "describe" and not self.world:
            raise ValueError("world: response describe needs a synthetic world (the captions "
                             "of the human triplets' images)")
        if self.stage == "instruct" and not (self.world or self.cirr):
            raise ValueError("cirr: stage instruct needs cirr (or world)")
        if self.val_split and self.val_split == self.split:
            raise ValueError(f"val_split: {self.val_split!r} is the training split; a held-out "
                             "loss needs another (or none)")
        if self.output == self.model:
            raise ValueError("output: must differ from model")
        if self.output == self.world:
            raise ValueError("output: must differ from world")
        return self

    def default_run_name(self) -> str:
        return f"vdg-{self.stage}-{self.output.rsplit('/', 1)[-1]}"


def build_model_dir(cfg: TrainVdgConfig, checkpoint_dir: str | Path, local: Path) -> None:
    """Write the trained model (input model + checkpoint tensors) as a HF dir at `local`."""
    import torch

    from vdgray.models.checkpoint import local_model_dir
    from vdgray.models.vdg.build import ADAPTER_DIR, load_vdg, save_vdg
    from vdgray.models.vdg.prompt import RESPONSE_FORMAT_KEY
    from vdgray.models.vdg.stages import add_lora, load_trainable, set_trainable
    from vdgray.train.vdg_loop import TRAINABLE

    model, processor = load_vdg(local_model_dir(cfg.model))
    setattr(model.config, RESPONSE_FORMAT_KEY, cfg.response)
    state = torch.load(Path(checkpoint_dir) / TRAINABLE, weights_only=True)
    if cfg.stage != "instruct":
        load_trainable(model, state)
        save_vdg(model, processor, local)
        return
    peft_model = add_lora(model, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout,
                          cfg.lora.target_modules)
    set_trainable(model, "instruct", cfg.unfreeze_lm)
    load_trainable(model, state)
    peft_model.save_pretrained(local / ADAPTER_DIR)
    save_vdg(peft_model.unload(), processor, local)


def check_inputs(cfg: TrainVdgConfig) -> None:
    """The input model is a model dir, and instruct's held-out split exists."""
    if not storage.exists(storage.join(cfg.model, "config.json")):
        raise StorageError(f"{cfg.model}: not a model directory (no config.json)")
    if cfg.stage == "instruct" and cfg.val_split:
        from vdgray.data.cirr import captions_uri
        from vdgray.train.vdg_data import cirr_root

        held = captions_uri(cirr_root({"cirr": cfg.cirr, "world": cfg.world}), cfg.val_split)
        if not storage.exists(held):
            raise ConfigError(f"val_split: {held} does not exist (set val_split: null to train "
                              "without a held-out loss)")


def run(cfg: TrainVdgConfig) -> dict:
    """Train one stage; write the model dir and its manifest to `output`; return metrics."""
    from vdgray.train.vdg_loop import train_loop

    return train_and_publish(cfg, Training(
        command="train-vdg", stage=MODEL_STAGE, loop=train_loop,
        what=f"train-vdg {cfg.stage} from {cfg.model}",
        loop_config=lambda threads: {**cfg.model_dump(mode="json", exclude={"ray"}),
                                     "torch_threads": threads},
        inputs={"model": cfg.model, "data": cfg.cirr or cfg.world},
        counts=lambda m: {"examples": int(m.get("examples", 0)),
                          "steps": int(m.get("step", 0))},
        extra={"model_class": "LlavaForConditionalGeneration", "vdg_stage": cfg.stage,
               "adapter": cfg.stage == "instruct"},
        summary=lambda m, wall: (
            f"train-vdg[{cfg.stage}]: loss {m.get('first_loss', float('nan')):.3f} -> "
            f"{m.get('loss', float('nan')):.3f} in {wall:.0f}s -> {cfg.output}"),
        build=lambda d, local: build_model_dir(cfg, d, local),
        check=lambda: check_inputs(cfg),
    ))


@click.command("train-vdg")
@config_options
@click.option("--stage", type=click.Choice(STAGES), default=None, help="Training stage.")
@click.option("--model", "-m", default=None, help="Input VDG dir (overrides model).")
@click.option("--output", "-o", default=None, help="Output VDG dir (overrides output).")
@click.option("--world", default=None, help="Synthetic world URI (overrides world).")
@click.option("--epochs", type=int, default=None, help="Epochs (overrides epochs).")
def command(config_path, overrides, stage, model, output, world, epochs):
    """Train the Visual Delta Generator: lm (world only), align, or instruct (Ray Train)."""
    cfg = build_config(TrainVdgConfig, config_path, overrides, stage=stage, model=model,
                       output=output, world=world, epochs=epochs)
    run(cfg)
