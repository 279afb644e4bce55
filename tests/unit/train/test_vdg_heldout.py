"""instruct's held-out loss: per response token, with the target shown and hidden."""

from __future__ import annotations

import shutil

import pytest
import torch
from helpers.assets import CIRR_TINY

from vdgray.models.vdg.build import tiny_vdg
from vdgray.models.vdg.stages import VdgForward
from vdgray.train.vdg_data import Examples, collate, instruct_examples
from vdgray.train.vdg_heldout import heldout_metrics, reference_twice, response_loss

CIRR = CIRR_TINY
DELTAS = ["make it red", "move the star to the top left", "use a black background"]


@pytest.fixture(scope="module")
def tiny():
    return tiny_vdg(texts=DELTAS)


def _pairs(tiny) -> tuple[Examples, torch.Tensor]:
    """Three instruct examples over four images, and random features for those images."""
    model, proc = tiny
    ex = instruct_examples(["a", "b", "c"], ["b", "d", "a"], DELTAS, lambda n: n.encode(),
                           proc.tokenizer, model.config.image_seq_length, 256)
    torch.manual_seed(0)
    n = model.config.image_seq_length
    return ex, torch.randn(len(ex.image_bytes), n, model.config.vision_config.hidden_size)


def test_reference_twice_puts_the_reference_in_both_slots(tiny):
    ex, _ = _pairs(tiny)
    hidden = reference_twice(ex)
    assert ex.images == [[0, 1], [1, 3], [2, 0]]  # references are numbered first
    assert hidden.images == [[0, 0], [1, 1], [2, 2]]
    assert hidden.input_ids == ex.input_ids and hidden.labels == ex.labels


def test_response_loss_is_the_training_loss_of_one_batch(tiny):
    model, proc = tiny
    ex, feats = _pairs(tiny)
    fwd = VdgForward(model)
    model.eval()
    b = collate(ex, [0, 1, 2], proc.tokenizer.pad_token_id)
    with torch.no_grad():
        want = float(fwd(b["input_ids"], b["attention_mask"], b["labels"], feats[b["image_rows"]]))
    model.train()
    got = response_loss(fwd, ex, feats, proc.tokenizer.pad_token_id)
    assert got == pytest.approx(want, rel=1e-5)
    assert model.training  # the caller's mode is kept
    # batching does not change the per-token mean
    assert response_loss(fwd, ex, feats, proc.tokenizer.pad_token_id, batch_size=1) == \
        pytest.approx(want, rel=1e-5)


def test_image_gain_is_zero_when_the_images_cannot_matter(tiny):
    model, proc = tiny
    ex, feats = _pairs(tiny)
    fwd = VdgForward(model)
    pad = proc.tokenizer.pad_token_id
    m = heldout_metrics(fwd, (ex, feats), pad)
    assert m["val_image_gain"] == pytest.approx(m["val_loss_reference_twice"] - m["val_loss"])
    assert m["val_image_gain"] != pytest.approx(0.0, abs=1e-6)  # random features differ
    same = heldout_metrics(fwd, (ex, torch.zeros_like(feats)), pad)
    assert same["val_image_gain"] == pytest.approx(0.0, abs=1e-6)


def test_instruct_without_the_held_out_split_is_a_config_error(tmp_path):
    from vdgray.errors import ConfigError
    from vdgray.models.vdg.build import save_vdg
    from vdgray.stages.train_vdg import TrainVdgConfig, run

    cirr = tmp_path / "cirr"
    shutil.copytree(CIRR, cirr)
    (cirr / "captions" / "cap.rc2.val.json").unlink()
    save_vdg(*tiny_vdg(), tmp_path / "model")
    cfg = TrainVdgConfig(stage="instruct", model=str(tmp_path / "model"), cirr=str(cirr),
                         output=str(tmp_path / "out"))
    with pytest.raises(ConfigError, match=r"val_split: .*cap\.rc2\.val\.json does not exist"):
        run(cfg)
    assert not (tmp_path / "out").exists()  # nothing written, no Ray started
