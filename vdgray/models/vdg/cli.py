"""`vdgray vdg assemble|export`: build a VDG dir, and merge a trained one for serving."""

from __future__ import annotations

import click

from vdgray.stage_options import build_config, config_options


@click.group("vdg")
def command():
    """Visual Delta Generator model dirs: assemble and export."""


@command.command("assemble")
@config_options
@click.option("--vision", default=None, help="Vision tower: encoder name or CLIP dir/URI.")
@click.option("--lm", default=None, help="Causal LM dir/URI (omit for a fresh world Llama).")
@click.option("--world", default=None, help="World URI (fresh LM tokenizer).")
@click.option("--output", "-o", default=None, help="Output VDG dir/URI.")
def assemble_cmd(config_path, overrides, vision, lm, world, output):
    """Assemble a LLaVA VDG from a CLIP vision tower and a causal LM (fresh projector)."""
    from vdgray.models.vdg.assemble import AssembleConfig, run

    cfg = build_config(AssembleConfig, config_path, overrides, vision=vision, lm=lm,
                       world=world, output=output)
    s = run(cfg)
    click.echo(f"vdg assemble: {s['parameters']:,} parameters, vocab {s['vocab']}, "
               f"{s['image_tokens']} tokens per image -> {s['output']}")


@command.command("export")
@config_options
@click.option("--model", "-m", default=None, help="Trained VDG dir/URI.")
@click.option("--output", "-o", default=None, help="Output plain LLaVA dir/URI.")
def export_cmd(config_path, overrides, model, output):
    """Merge LoRA into the LM and write a plain HF LLaVA dir (loads without peft; vLLM-ready)."""
    from vdgray.models.vdg.export import ExportConfig, run

    cfg = build_config(ExportConfig, config_path, overrides, model=model, output=output)
    s = run(cfg)
    click.echo(f"vdg export: {'merged LoRA, ' if s['merged_lora'] else ''}-> {s['output']}")
