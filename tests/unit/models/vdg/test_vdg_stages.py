"""What each stage trains, the cached-feature forward, LoRA export (no Ray)."""

from __future__ import annotations

import io
import json

import pytest
import torch
from helpers.images import solid_png
from PIL import Image

from vdgray.models.vdg.build import ADAPTER_DIR, load_trained, save_vdg, tiny_vdg
from vdgray.models.vdg.generate import generate_deltas
from vdgray.models.vdg.stages import (
    VdgForward,
    add_lora,
    load_trainable,
    set_trainable,
    trainable_state,
    vision_features,
)
from vdgray.train.vdg_data import collate, instruct_examples

COLOURS = {"red": (220, 30, 30), "blue": (35, 80, 230), "green": (40, 170, 60),
           "yellow": (240, 220, 30)}


def _data(model, proc):
    names = list(COLOURS)
    refs = [names[i] for i in range(4)]
    tgts = [names[(i + 1) % 4] for i in range(4)]
    deltas = [f"make it {t}" for t in tgts]
    ex = instruct_examples(refs, tgts, deltas, lambda n: solid_png(COLOURS[n]), proc.tokenizer,
                           model.config.image_seq_length, 256)
    px = proc.image_processor(images=[Image.open(io.BytesIO(b)) for b in ex.image_bytes],
                              return_tensors="pt")["pixel_values"]
    return ex, px


def _train(model, proc, stage, steps=15, lr=1e-2):
    ex, px = _data(model, proc)
    feats = vision_features(model, px)
    set_trainable(model, stage)
    fwd = VdgForward(model).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    b = collate(ex, list(range(len(ex))), proc.tokenizer.pad_token_id)
    losses = []
    for _ in range(steps):
        loss = fwd(b["input_ids"], b["attention_mask"], b["labels"], feats[b["image_rows"]])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def test_cached_feature_forward_equals_llava_forward():
    model, proc = tiny_vdg()
    ex, px = _data(model, proc)
    b = collate(ex, [0, 1], proc.tokenizer.pad_token_id)
    rows = b["image_rows"]
    with torch.no_grad():
        ours = VdgForward(model)(b["input_ids"], b["attention_mask"], b["labels"],
                                 vision_features(model, px)[rows])
        ref = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                    labels=b["labels"], pixel_values=px[rows]).loss
    assert torch.allclose(ours, ref, atol=1e-5)


def test_align_changes_only_projector_and_loss_goes_down():
    model, proc = tiny_vdg()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = _train(model, proc, "align")
    assert losses[-1] < losses[0]
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("model.multi_modal_projector.") for k in changed)
    assert any("linear_1" in k for k in changed) and any("linear_2" in k for k in changed)


def test_instruct_trains_projector_and_lora_only():
    model, proc = tiny_vdg()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    add_lora(model, r=4, alpha=8, dropout=0.0)
    names = set_trainable(model, "instruct")
    assert any(".lora_A." in n for n in names) and not any("vision_tower" in n for n in names)
    losses = _train(model, proc, "instruct")
    assert losses[-1] < losses[0]
    for k, v in model.state_dict().items():
        plain = k.replace(".base_layer", "")
        if plain in before and not k.startswith("model.multi_modal_projector."):
            assert torch.equal(v, before[plain]), k


def test_trainable_state_round_trip():
    model, proc = tiny_vdg()
    set_trainable(model, "align")
    state = {k: torch.randn_like(v) for k, v in trainable_state(model).items()}
    other, _ = tiny_vdg()
    set_trainable(other, "align")
    load_trainable(other, state)
    assert all(torch.equal(trainable_state(other)[k], v) for k, v in state.items())
    with pytest.raises(KeyError):
        load_trainable(other, {"nope": torch.zeros(1)})


def test_export_reloads_without_peft_and_generates_same_tokens(tmp_path):
    from transformers import LlavaForConditionalGeneration

    from vdgray.stages.vdg_export import ExportConfig, run

    model, proc = tiny_vdg()
    _train(model, proc, "align", steps=5)
    peft_model = add_lora(model, r=4, alpha=8, dropout=0.0)
    set_trainable(model, "instruct")
    _train(model, proc, "instruct", steps=10)
    trained = tmp_path / "trained"
    peft_model.save_pretrained(trained / ADAPTER_DIR)
    save_vdg(peft_model.unload(), proc, trained)
    run(ExportConfig(model=str(trained), output=str(tmp_path / "exported")))

    exported = tmp_path / "exported"
    assert not (exported / ADAPTER_DIR).exists()
    cfg = json.loads((exported / "config.json").read_text())
    assert cfg["model_type"] == "llava"
    plain = LlavaForConditionalGeneration.from_pretrained(exported)
    assert not any("lora" in k for k in plain.state_dict())
    unmerged, proc2 = load_trained(trained)
    assert hasattr(unmerged, "peft_config")
    refs = [solid_png(COLOURS["red"]), solid_png(COLOURS["green"])]
    tgts = [solid_png(COLOURS["blue"]), solid_png(COLOURS["yellow"])]
    a = generate_deltas(unmerged, proc2, refs, tgts, do_sample=False, max_new_tokens=8)
    b = generate_deltas(plain.eval(), proc2, refs, tgts, do_sample=False, max_new_tokens=8)
    assert a == b and any(a)


def test_unfreeze_lm_trains_lm_but_never_the_vision_tower():
    model, _ = tiny_vdg()
    names = set_trainable(model, "align", unfreeze_lm=True)
    assert any(n.startswith("model.language_model.") for n in names)
    assert any(n.startswith("model.multi_modal_projector.") for n in names)
    assert not any("vision_tower" in n for n in names)
    assert set_trainable(model, "align") == [n for n in names if "multi_modal_projector" in n]
