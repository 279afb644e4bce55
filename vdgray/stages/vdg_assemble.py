"""`vdgray vdg assemble`: a VDG dir from a CLIP/SigLIP vision tower and a causal LM (fresh projector).

The vision tower is any encoder `load_encoder` knows (a trained world CLIP dir, `tiny-clip`,
an s3:// dir). The LM is a local HF causal-LM dir (its tokenizer gains `<image>`), or a GGUF
file in such a dir (`lm_gguf`: llama.cpp's format, dequantized to float32 by transformers
through the `gguf` package; the VDG is saved as safetensors, which vLLM reads), or, with
`lm: null`, a small Llama from random weights over a word-level tokenizer of the world's
texts — train it with `vdgray train-vdg --stage align` and `unfreeze_lm`, `text_mix` (it
learns language and images together; a text-only `--stage lm` first leaves it blind).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
from pydantic import Field, TypeAdapter, field_validator, model_validator

from vdgray import manifest, storage
from vdgray.config import StageConfig, Uri, resolved
from vdgray.errors import ConfigError, DataFormatError, StorageError
from vdgray.layout import VDG_MODEL_STAGE, WORLD_LM
from vdgray.stage_options import TEST_MODELS, build_config, config_options


class AssembleConfig(StageConfig):
    """Settings of `vdgray vdg assemble`."""

    vision: str = Field(..., description=f"Vision tower: a CLIP or SigLIP model dir/URI (its vision side; e.g. the world CLIP from train-encoder). {TEST_MODELS}")
    output: Uri = Field(..., description="Where the VDG dir goes (local or s3://).")
    lm: str | None = Field(None, description="Causal LM dir/URI, or world-lm (the world LM shipped with vdgray: a small Llama pretrained on the world's language prior, train/world_lm.py); None: a fresh Llama for the world.")
    lm_gguf: str | None = Field(None, description="A GGUF file (its name) in the lm dir to read the LM and its tokenizer from, e.g. SmolLM2-135M-Instruct.Q4_1.gguf; dequantized to float32.")
    world: Uri | None = Field(None, description="World URI whose texts build the fresh LM's tokenizer.")
    lm_hidden: int = Field(256, ge=8, description="Fresh Llama: hidden size.")
    lm_layers: int = Field(4, ge=1, description="Fresh Llama: layers.")
    lm_heads: int = Field(4, ge=1, description="Fresh Llama: attention heads.")
    lm_intermediate: int | None = Field(None, ge=8, description="Fresh Llama: MLP width (2x hidden).")
    max_positions: int = Field(512, ge=32, description="Fresh Llama: positions (>= 2 images + text).")
    vision_feature_layer: int = Field(-2, description="Vision hidden state fed to the projector.")
    seed: int = Field(0, ge=0, description="Seed of the fresh projector and LM.")
    overwrite: bool = Field(False, description="Replace a finished model at `output`.")


    @field_validator("lm")
    @classmethod
    def _lm(cls, value: str | None) -> str | None:
        return value if value in (None, WORLD_LM) else TypeAdapter(Uri).validate_python(value)

    @model_validator(mode="after")
    def _check(self):
        if self.lm is None and self.world is None:
            raise ValueError("world: required when lm is null (the fresh LM's tokenizer)")
        if self.lm_gguf is not None and self.lm in (None, WORLD_LM):
            raise ValueError("lm_gguf: names a GGUF file in the lm dir; set lm to that dir")
        if self.lm is not None and self.world is not None:
            raise ValueError("world: only used with lm null; a given LM keeps its tokenizer")
        if self.lm_hidden % self.lm_heads:
            raise ValueError(f"lm_hidden ({self.lm_hidden}) must be divisible by lm_heads")
        return self


def lm_dir(lm: str):
    """The local dir of a causal LM: the shipped world LM by name, else a dir/URI."""
    from vdgray.models.checkpoint import local_model_dir
    from vdgray.train.world_lm import shipped_dir

    if lm == WORLD_LM:
        path = shipped_dir()
        if not (path / "config.json").is_file():
            raise StorageError(f"lm: {WORLD_LM} is not in this install ({path}); rebuild it with "
                               "python -m vdgray.train.world_lm --out " + str(path))
        return path
    return local_model_dir(lm)


def gguf_file(lm_path, name: str) -> str:
    """`name`, checked: a file in the LM dir, and the `gguf` package that reads it importable."""
    import importlib.util

    if not (Path(lm_path) / name).is_file():
        found = sorted(p.name for p in Path(lm_path).glob("*.gguf"))
        raise StorageError(f"lm_gguf: {name} is not in {lm_path} (GGUF files there: "
                           f"{', '.join(found) or 'none'})")
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError("lm_gguf: reading a GGUF file needs the gguf package "
                          "(pip install gguf)")
    return name


def build(cfg: AssembleConfig):
    """(model, processor) assembled as configured."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from vdgray.models.registry import load_encoder
    from vdgray.models.vdg.build import assemble, llama_config, make_processor, world_tokenizer

    enc = load_encoder(cfg.vision)
    if not enc.dual:
        raise DataFormatError(f"{cfg.vision}: the VDG vision tower must be a dual encoder's "
                              f"vision side (CLIP, SigLIP), got {enc.kind}")
    if cfg.lm is None:
        from vdgray.data.synthetic.texts import world_texts

        tok = world_tokenizer(world_texts(cfg.world))
        torch.manual_seed(cfg.seed)
        lm = LlamaForCausalLM(llama_config(
            len(tok), tok, hidden=cfg.lm_hidden, layers=cfg.lm_layers, heads=cfg.lm_heads,
            intermediate=cfg.lm_intermediate, max_positions=cfg.max_positions))
    else:
        path = lm_dir(cfg.lm)
        gguf = {} if cfg.lm_gguf is None else {"gguf_file": gguf_file(path, cfg.lm_gguf)}
        tok = AutoTokenizer.from_pretrained(path, **gguf)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **gguf)
        if gguf:  # dequantized on load: a saved `quant_method: gguf` would make vLLM refuse it
            del lm.config.quantization_config
            lm.hf_quantizer = None
    model = assemble(enc.model, lm, tok, vision_feature_layer=cfg.vision_feature_layer,
                     seed=cfg.seed)
    proc = make_processor(enc.processor, tok, enc.model.config.vision_config)
    return model, proc


def run(cfg: AssembleConfig) -> dict:
    """Assemble and write the VDG dir + manifest; returns a summary."""
    from vdgray.models.checkpoint import upload_dir
    from vdgray.models.vdg.build import save_vdg

    t0 = time.time()
    if manifest.is_complete(cfg.output) and not cfg.overwrite:
        raise StorageError(f"{cfg.output}: a finished model is already there (set overwrite=true)")
    storage.ensure_bucket(cfg.output)
    model, proc = build(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        save_vdg(model, proc, Path(tmp))
        files = upload_dir(tmp, cfg.output)
    n_params = sum(p.numel() for p in model.parameters())
    wall = time.time() - t0
    manifest.write_manifest(
        cfg.output, stage=VDG_MODEL_STAGE, config=resolved(cfg),
        inputs={"vision": cfg.vision, "lm": cfg.lm or "fresh", "world": cfg.world or ""},
        counts={"parameters": n_params, "vocab": len(proc.tokenizer)}, files=files,
        wall_time_s=wall, extra={"model_class": "LlavaForConditionalGeneration",
                                 "vdg_stage": "assembled", "adapter": False},
    )
    return {"output": cfg.output, "parameters": n_params, "vocab": len(proc.tokenizer),
            "image_tokens": int(model.config.image_seq_length), "wall_time_s": wall}


@click.command("assemble")
@config_options
@click.option("--vision", default=None, help="Vision tower: a CLIP or SigLIP dir/URI.")
@click.option("--lm", default=None, help="Causal LM dir/URI (omit for a fresh world Llama).")
@click.option("--world", default=None, help="World URI (fresh LM tokenizer).")
@click.option("--output", "-o", default=None, help="Output VDG dir/URI.")
def command(config_path, overrides, vision, lm, world, output):
    """Assemble a LLaVA VDG from a CLIP or SigLIP vision tower and a causal LM (fresh projector)."""
    cfg = build_config(AssembleConfig, config_path, overrides, vision=vision, lm=lm,
                       world=world, output=output)
    s = run(cfg)
    click.echo(f"vdg assemble: {s['parameters']:,} parameters, vocab {s['vocab']}, "
               f"{s['image_tokens']} tokens per image -> {s['output']}")
