"""The align stage's reading probe: caption-word accuracy per attribute on held-out images."""

from __future__ import annotations

import pytest
import torch

from vdgray.models.vdg.build import tiny_vdg
from vdgray.models.vdg.stages import VdgForward
from vdgray.train.vdg_data import align_examples
from vdgray.train.vdg_probe import caption_word_accuracy, word_categories

CAPTIONS = ["a large red circle in the top left on a gray background",
            "a small blue star at the top on a black background"]


@pytest.fixture(scope="module")
def tiny():
    return tiny_vdg(texts=CAPTIONS)


class _Oracle(torch.nn.Module):
    """Logits that put all mass on the next input token (shifted by `shift` ids)."""

    def __init__(self, model, vocab: int, shift: int = 0):
        super().__init__()
        self.model, self.vocab, self.shift = model, vocab, shift

    def logits(self, input_ids, attention_mask, image_features=None):
        out = torch.zeros(*input_ids.shape, self.vocab)
        nxt = torch.roll(input_ids, -1, dims=1)
        out.scatter_(2, ((nxt + self.shift) % self.vocab).unsqueeze(-1), 1.0)
        return out


def test_categories_cover_the_world_vocabulary(tiny):
    _, proc = tiny
    cats = word_categories(proc.tokenizer)
    tok = proc.tokenizer
    assert cats[tok.convert_tokens_to_ids("circle")] == "shape"
    assert cats[tok.convert_tokens_to_ids("red")] == "colour"
    assert cats[tok.convert_tokens_to_ids("large")] == "size"
    assert cats[tok.convert_tokens_to_ids("gray")] == "background"
    assert tok.convert_tokens_to_ids("the") not in cats


def _probe_inputs(tiny, make=torch.zeros):
    """(model, tokenizer, align examples of CAPTIONS, features of their two images)."""
    model, proc = tiny
    tok, n = proc.tokenizer, model.config.image_seq_length
    ex = align_examples([b"", b""], CAPTIONS, tok, n, 256)
    return model, tok, ex, make(2, n, model.config.vision_config.hidden_size)


def test_accuracy_is_one_for_an_oracle_and_zero_when_every_word_is_wrong(tiny):
    model, tok, ex, feats = _probe_inputs(tiny)
    cats = word_categories(tok)
    right = caption_word_accuracy(_Oracle(model, len(tok)), ex, feats, cats, tok.pad_token_id)
    assert right == {"read_shape": 1.0, "read_colour": 1.0, "read_size": 1.0,
                     "read_background": 1.0}
    wrong = caption_word_accuracy(_Oracle(model, len(tok), shift=1), ex, feats, cats,
                                  tok.pad_token_id)
    assert set(wrong.values()) == {0.0}


def test_real_forward_gives_accuracies_in_range_and_keeps_training_mode(tiny):
    model, tok, ex, feats = _probe_inputs(tiny, make=torch.randn)
    fwd = VdgForward(model)
    model.train()
    acc = caption_word_accuracy(fwd, ex, feats, word_categories(tok), tok.pad_token_id)
    assert set(acc) == {"read_shape", "read_colour", "read_size", "read_background"}
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    assert model.training
