"""`vdgray vdg export`: merge the LoRA adapter into the LM and write a plain HF LLaVA dir.

The result (config, safetensors, tokenizer, processor with the shared chat template) loads
with `LlavaForConditionalGeneration.from_pretrained` and no peft, and vLLM serves it with
`limit_mm_per_prompt={"image": 2}`. A model without an adapter is copied as is.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
from pydantic import Field, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri, resolved
from vdgray.errors import StorageError
from vdgray.layout import VDG_MODEL_STAGE
from vdgray.stage_options import build_config, config_options


class ExportConfig(StageConfig):
    """Settings of `vdgray vdg export`."""

    model: Uri = Field(..., description="Trained VDG dir/URI (with adapter/ after instruct).")
    output: Uri = Field(..., description="Where the merged plain LLaVA dir goes (local or s3://).")
    dtype: str = Field("float32", description="Saved weight dtype: float32 | bfloat16 | float16.")
    overwrite: bool = Field(False, description="Replace a finished model at `output`.")


    @model_validator(mode="after")
    def _check(self):
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype: {self.dtype!r} is not float32, bfloat16 or float16")
        if self.model == self.output:
            raise ValueError("output: must differ from model")
        return self


def merged(model_dir: str | Path):
    """(plain LLaVA model with LoRA merged, processor) from a local trained VDG dir."""
    from vdgray.models.vdg.build import load_trained

    model, proc = load_trained(model_dir)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model.eval(), proc


def run(cfg: ExportConfig) -> dict:
    """Merge and write; returns a summary."""
    import torch

    from vdgray.models.checkpoint import local_model_dir, upload_dir
    from vdgray.models.vdg.build import save_vdg

    t0 = time.time()
    if manifest.is_complete(cfg.output) and not cfg.overwrite:
        raise StorageError(f"{cfg.output}: a finished model is already there (set overwrite=true)")
    src = local_model_dir(cfg.model)
    had_adapter = (Path(src) / "adapter").is_dir()
    model, proc = merged(src)
    model.to(getattr(torch, cfg.dtype))
    storage.ensure_bucket(cfg.output)
    with tempfile.TemporaryDirectory() as tmp:
        save_vdg(model, proc, Path(tmp))
        files = upload_dir(tmp, cfg.output)
    wall = time.time() - t0
    manifest.write_manifest(
        cfg.output, stage=VDG_MODEL_STAGE, config=resolved(cfg), inputs={"model": cfg.model},
        counts={"parameters": sum(p.numel() for p in model.parameters())}, files=files,
        wall_time_s=wall, extra={"model_class": "LlavaForConditionalGeneration",
                                 "vdg_stage": "exported", "adapter": False,
                                 "merged_lora": had_adapter},
    )
    return {"output": cfg.output, "merged_lora": had_adapter, "wall_time_s": wall}


@click.command("export")
@config_options
@click.option("--model", "-m", default=None, help="Trained VDG dir/URI.")
@click.option("--output", "-o", default=None, help="Output plain LLaVA dir/URI.")
def command(config_path, overrides, model, output):
    """Merge LoRA into the LM and write a plain HF LLaVA dir (loads without peft; vLLM-ready)."""
    cfg = build_config(ExportConfig, config_path, overrides, model=model, output=output)
    s = run(cfg)
    click.echo(f"vdg export: {'merged LoRA, ' if s['merged_lora'] else ''}-> {s['output']}")
