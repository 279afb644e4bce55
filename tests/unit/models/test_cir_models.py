"""The CIR models: tiny configs train, save/load round-trips, the joint loss and TDM mining."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vdgray.models.cir import build_cir, load_cir
from vdgray.models.losses import hn_nce, mine_hard_negatives, tdm_loss
from vdgray.train.cir_loop import step_loss

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]
TEXTS = ["make it red", "make it green", "make it blue", "make it yellow", "make it purple",
         "make it cyan"]


def _images(n: int, shift: int = 0) -> list[Image.Image]:
    out = []
    for i in range(n):
        img = Image.new("RGB", (32, 32), (40, 40, 40))
        img.paste(COLOURS[(i + shift) % len(COLOURS)], (4 + 3 * i, 4, 20 + 3 * i, 20))
        out.append(img)
    return out


def _batch(model, n: int = 6) -> dict:
    tok = model.tokenize(TEXTS[:n])
    return {"ref_pixels": model.preprocess(_images(n)), "input_ids": tok["input_ids"],
            "attention_mask": tok["attention_mask"],
            "target_pixels": model.preprocess(_images(n, shift=1)),
            "target_keys": torch.arange(n)}


CONFIG = {"temperature": None, "alpha": 1.0, "beta": 0.0, "tdm_weight": 1.0}


@pytest.mark.parametrize("kind,encoder,lr,beta", [("combiner", "tiny-clip", 1e-3, 0.0),
                                                  ("blip", "tiny-blip", 3e-3, 0.5)])
def test_tiny_models_train_and_loss_decreases(kind, encoder, lr, beta):
    torch.manual_seed(0)
    model = build_cir(kind, encoder)
    batch = _batch(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    cfg = {**CONFIG, "beta": beta}
    model.train()
    losses = []
    for _ in range(12):
        loss, parts = step_loss(model, batch, 6, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < losses[0]
    if kind == "blip":
        assert "loss_tdm" in parts  # the TDM term is part of the BLIP objective


@pytest.mark.parametrize("kind,encoder", [("combiner", "tiny-clip"), ("blip", "tiny-blip")])
def test_save_and_load_give_the_same_embeddings(kind, encoder, tmp_path):
    model = build_cir(kind, encoder).eval()
    with torch.no_grad():  # move the model away from its init so a reload is not trivially equal
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save(tmp_path / "m")
    back = load_cir(str(tmp_path / "m"))
    px = model.preprocess(_images(3))
    assert torch.allclose(model.encode_queries(px, TEXTS[:3]), back.encode_queries(px, TEXTS[:3]),
                          atol=1e-5)
    assert torch.allclose(model.encode_targets(px), back.encode_targets(px), atol=1e-5)
    assert back.kind == kind and back.settings == model.settings


def test_combiner_frozen_backbone_trains_only_the_combiner():
    model = build_cir("combiner", "tiny-clip", train_backbone="none")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("combiner.") for n in trainable)
    text = build_cir("combiner", "tiny-clip", train_backbone="text")
    names = {n for n, p in text.named_parameters() if p.requires_grad}
    assert any("text_model" in n for n in names) and not any("vision_model" in n for n in names)


def test_step_loss_is_human_term_plus_joint_term_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_cir("combiner", "tiny-clip").eval()  # eval: no dropout, deterministic
    batch = _batch(model)
    loss, _ = step_loss(model, batch, 4, {**CONFIG, "temperature": 0.1})
    with torch.no_grad():
        q = model.query(batch["ref_pixels"], batch["input_ids"], batch["attention_mask"])
        t = model.target(batch["target_pixels"])
    expected = hn_nce(q[:4], t[:4], temperature=0.1) + hn_nce(q, t, temperature=0.1)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    human_only, _ = step_loss(model, {k: v[:4] for k, v in batch.items()}, 4,
                              {**CONFIG, "temperature": 0.1})
    assert float(human_only) == pytest.approx(float(hn_nce(q[:4], t[:4], temperature=0.1)),
                                              rel=1e-5)


def test_blip_tdm_negatives_are_the_most_similar_non_matching_targets():
    torch.manual_seed(0)
    model = build_cir("blip", "tiny-blip").train()
    batch = _batch(model)
    batch["target_keys"] = torch.tensor([0, 1, 2, 3, 4, 0])  # rows 0 and 5 share a target
    out = model(**batch)
    sim = out["query"].detach() @ out["target"].detach().T
    keys = batch["target_keys"]
    same = keys[:, None] == keys[None, :]
    neg_t = mine_hard_negatives(sim, same)
    neg_d = mine_hard_negatives(sim.T, same)
    for i in range(6):  # by hand: the argmax over columns that are neither i nor share its target
        allowed = [j for j in range(6) if j != i and keys[j] != keys[i]]
        assert int(neg_t[i]) == max(allowed, key=lambda j: float(sim[i, j]))
        assert int(neg_d[i]) == max(allowed, key=lambda j: float(sim[j, i]))
    with torch.no_grad():
        patches = model.image_features(batch["target_pixels"])
        ids, mask = batch["input_ids"], batch["attention_mask"]
        pos = model.itm_logits(ids, mask, patches)
        neg = torch.cat([model.itm_logits(ids, mask, patches[neg_t]),
                         model.itm_logits(ids[neg_d], mask[neg_d], patches)])
    assert torch.allclose(out["tdm_pos"], pos, atol=1e-5)
    assert torch.allclose(out["tdm_neg"], neg, atol=1e-5)
    assert float(tdm_loss(out["tdm_pos"], out["tdm_neg"])) > 0


@pytest.mark.parametrize("kind,encoder,settings,frozen", [
    ("combiner", "tiny-clip", {"train_backbone": "text"}, True),
    ("combiner", "tiny-clip", {"train_backbone": "none"}, True),
    ("combiner", "tiny-clip", {"train_backbone": "all"}, False),
    ("blip", "tiny-blip", {}, True)])
def test_precomputed_image_features_give_the_same_forward(kind, encoder, settings, frozen):
    """train-cir computes a frozen vision side once per image (`frozen_features`) instead of
    every step: the training call must not change, and a trainable vision side must not be
    cached."""
    from vdgray.train.cir_data import ImageTable
    from vdgray.train.cir_loop import frozen_features

    torch.manual_seed(0)
    model = build_cir(kind, encoder, **settings).eval()
    assert model.frozen_image_features is frozen
    batch = _batch(model)
    table = ImageTable(["r", "t"], [b"", b""], model.preprocess, cache=False)
    table.pixels = lambda idx: torch.cat([batch["ref_pixels"][:1], batch["target_pixels"][:1]])[idx]
    feats = frozen_features(model, table, torch.device("cpu"))
    if not frozen:
        assert feats is None
        return
    assert feats.shape[0] == 2 and not model.training
    with torch.no_grad():
        plain = model(**batch)
        cached = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       ref_features=model.image_features(batch["ref_pixels"]),
                       target_features=model.image_features(batch["target_pixels"]))
    for key in ("query", "target"):
        torch.testing.assert_close(plain[key], cached[key])
    torch.testing.assert_close(feats[1], model.image_features(batch["target_pixels"][:1])[0])
