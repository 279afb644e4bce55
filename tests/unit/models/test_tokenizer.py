"""The word tokenizer: special tokens at fixed ids, lower-casing, punctuation, HF round trip."""

from __future__ import annotations

from transformers import AutoTokenizer

from vdgray.models.tokenizer import build_word_tokenizer


def test_special_tokens_and_round_trip(tmp_path):
    tok = build_word_tokenizer(["A red circle, top-left.", "a blue square"])
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "<image>"]
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)

    ids = tok("A RED circle.")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "a red circle ."
    assert tok("a zebra")["input_ids"][2] == tok.unk_token_id
    assert tok.tokenize("Reference: <image> x")[2] == "<image>"

    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("a red circle, top-left")["input_ids"] == tok("a red circle, top-left")["input_ids"]
    assert again.pad_token_id == 0 and again.convert_tokens_to_ids("<image>") == 4


def test_min_freq_and_deterministic_ids():
    texts = ["red red red circle", "blue circle"]
    a, b = build_word_tokenizer(texts), build_word_tokenizer(list(reversed(texts)))
    assert a.get_vocab() == b.get_vocab()
    rare = build_word_tokenizer(texts, min_freq=2)
    assert "blue" not in rare.get_vocab() and "circle" in rare.get_vocab()
