"""`vdgray vdg assemble|export` from a saved causal LM, and the stage configs' validation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from vdgray import manifest
from vdgray.errors import ConfigError


@pytest.fixture
def tiny_lm_dir(tmp_path):
    """A saved HF causal LM (1-layer Llama) whose tokenizer lacks no <image> handling."""
    import torch
    from transformers import LlamaForCausalLM

    from vdgray.models.registry import tiny_tokenizer
    from vdgray.models.vdg.build import llama_config

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    lm = LlamaForCausalLM(llama_config(len(tok), tok, hidden=32, layers=1, heads=2,
                                       max_positions=128))
    path = tmp_path / "lm"
    lm.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def test_assemble_then_export_cli(tiny_lm_dir, tmp_path):
    from transformers import LlavaForConditionalGeneration

    from vdgray.stages.vdg import command

    out, exp = str(tmp_path / "vdg"), str(tmp_path / "exported")
    r = CliRunner().invoke(command, ["assemble", "--vision", "tiny-clip", "--lm", tiny_lm_dir,
                                     "-o", out], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "16 tokens per image" in r.output
    doc = manifest.read_manifest(out, "vdg-model")
    assert doc["vdg_stage"] == "assembled"
    r = CliRunner().invoke(command, ["export", "-m", out, "-o", exp], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    model = LlavaForConditionalGeneration.from_pretrained(exp)
    assert model.config.image_seq_length == 16
    assert manifest.read_manifest(exp, "vdg-model")["merged_lora"] is False


def test_assemble_refuses_to_overwrite(tiny_lm_dir, tmp_path):
    from vdgray.errors import StorageError
    from vdgray.stages.vdg_assemble import AssembleConfig, run

    cfg = AssembleConfig(vision="tiny-clip", lm=tiny_lm_dir, output=str(tmp_path / "v"))
    run(cfg)
    with pytest.raises(StorageError, match="overwrite"):
        run(cfg)


def test_configs_reject_conflicts():
    from vdgray.config import load_config
    from vdgray.stages.eval_vdg import EvalVdgConfig
    from vdgray.stages.train_vdg import TrainVdgConfig
    from vdgray.stages.vdg_assemble import AssembleConfig

    with pytest.raises(ConfigError, match="stage"):
        load_config(TrainVdgConfig, None, ["stage=pretrain", "model=/m", "output=/o", "world=/w"])
    with pytest.raises(ConfigError, match="world"):
        load_config(TrainVdgConfig, None, ["stage=align", "model=/m", "output=/o"])
    with pytest.raises(ConfigError, match="lora.r"):
        load_config(TrainVdgConfig, None, ["stage=instruct", "model=/m", "output=/o",
                                           "cirr=/c", "lora.r=0"])
    with pytest.raises(ConfigError, match="text_mix: only stage align"):
        load_config(TrainVdgConfig, None, ["stage=instruct", "model=/m", "output=/o",
                                           "cirr=/c", "text_mix=1"])
    with pytest.raises(ConfigError, match="val_split: 'val' is the training split"):
        load_config(TrainVdgConfig, None, ["stage=instruct", "model=/m", "output=/o",
                                           "cirr=/c", "split=val"])
    with pytest.raises(ConfigError, match="world"):
        load_config(AssembleConfig, None, ["vision=tiny-clip", "output=/o"])
    with pytest.raises(ConfigError, match="split"):
        load_config(EvalVdgConfig, None, ["model=/m", "output=/o", "world=/w", "split=test1"])
    cfg = load_config(TrainVdgConfig, None, ["stage=instruct", "model=/m", "output=/o/x",
                                             "cirr=/c"])
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (64, 16, 0.05)
    assert cfg.run_name() == "vdg-instruct-x" and cfg.run_storage() == "/o/ray-train"


def test_assemble_and_export_over_any_uri(tiny_lm_dir, any_uri):
    from vdgray.models.checkpoint import local_model_dir
    from vdgray.models.vdg.build import load_vdg
    from vdgray.stages.vdg_assemble import AssembleConfig
    from vdgray.stages.vdg_assemble import run as assemble
    from vdgray.stages.vdg_export import ExportConfig
    from vdgray.stages.vdg_export import run as export

    assemble(AssembleConfig(vision="tiny-clip", lm=tiny_lm_dir, output=f"{any_uri}/vdg"))
    export(ExportConfig(model=f"{any_uri}/vdg", output=f"{any_uri}/exported"))
    model, proc = load_vdg(local_model_dir(f"{any_uri}/exported"))
    assert model.config.model_type == "llava" and proc.patch_size == 8
    assert "model.safetensors" in manifest.read_manifest(f"{any_uri}/exported")["files"]
