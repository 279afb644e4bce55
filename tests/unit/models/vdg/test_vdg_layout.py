"""Every VDG dir is written in the canonical llava-hf layout, the one vLLM's LLaVA loader and
the llava-1.5 checkpoints use, and a checkpoint in that layout loads through `load_vdg`."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file, save_file

from vdgray.models.vdg.build import (
    LLAVA_HF_PREFIXES,
    load_vdg,
    save_vdg,
    tiny_vdg,
)


def test_saved_weights_use_the_llava_hf_names(tmp_path):
    model, proc = tiny_vdg()
    save_vdg(model, proc, tmp_path)
    keys = set(load_file(tmp_path / "model.safetensors"))
    assert keys and all(k.startswith(LLAVA_HF_PREFIXES) for k in keys), sorted(keys)[:5]
    # vLLM's CLIP tower is CLIPVisionModel: its weights live under vision_model.
    assert "vision_tower.vision_model.embeddings.patch_embedding.weight" in keys
    assert "language_model.lm_head.weight" in keys
    assert any(k.startswith("language_model.model.layers.0.") for k in keys)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "llava"


def test_the_canonical_layout_round_trips_exactly(tmp_path):
    model, proc = tiny_vdg(seed=3)
    save_vdg(model, proc, tmp_path)
    loaded, _ = load_vdg(tmp_path)
    before, after = model.state_dict(), loaded.state_dict()
    assert set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_checkpoint_written_by_hand_in_the_llava_hf_layout_loads(tmp_path):
    """Module by module, the names llava-1.5-hf uses (no vdgray save code involved): the dir
    loads and its weights equal the modules they came from."""
    model, proc = tiny_vdg(seed=5)
    inner = model.model
    parts = {"vision_tower.vision_model.": inner.vision_tower,
             "multi_modal_projector.": inner.multi_modal_projector,
             "language_model.model.": inner.language_model, "language_model.lm_head.": model.lm_head}
    state = {prefix + k: v.contiguous() for prefix, module in parts.items()
             for k, v in module.state_dict().items()}
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    model.config.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    loaded, _ = load_vdg(tmp_path)
    before, after = model.state_dict(), loaded.state_dict()
    assert set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in before)
