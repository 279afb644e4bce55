"""Training examples: the instruct stage learns the response only; align the caption only."""

from __future__ import annotations

import pytest
from helpers.images import solid_png

from vdgray.models.vdg.build import tiny_vdg
from vdgray.train.vdg_data import IGNORE, align_examples, collate, instruct_examples, lm_examples


@pytest.fixture(scope="module")
def tiny():
    return tiny_vdg()


def test_instruct_masks_prompt_and_image_tokens(tiny):
    model, proc = tiny
    tok, n = proc.tokenizer, model.config.image_seq_length
    images = {"a": solid_png((255, 0, 0)), "b": solid_png((0, 0, 255))}
    ex = instruct_examples(["a"], ["b"], ["make it blue"], images.__getitem__, tok, n, 256)
    ids, labels = ex.input_ids[0], ex.labels[0]
    response = tok(" make it blue", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    n_prompt = len(ids) - len(response)
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == response == ids[n_prompt:]
    assert ids.count(model.config.image_token_id) == 2 * n
    assert all(labels[i] == IGNORE for i, t in enumerate(ids) if t == model.config.image_token_id)
    assert ex.images == [[0, 1]] and ex.image_bytes == [images["a"], images["b"]]


def test_instruct_rejects_max_length_cutting_images(tiny):
    from vdgray.errors import DataFormatError

    model, proc = tiny
    with pytest.raises(DataFormatError, match="max_length"):
        instruct_examples(["a"], ["b"], ["make it blue"], lambda n: solid_png((0, 0, 0)),
                          proc.tokenizer, model.config.image_seq_length, 20)


def test_align_learns_caption_only(tiny):
    model, proc = tiny
    tok, n = proc.tokenizer, model.config.image_seq_length
    ex = align_examples([solid_png((0, 255, 0))], ["a small green circle"], tok, n, 128)
    n_learned = sum(x != IGNORE for x in ex.labels[0])
    assert n_learned == len(tok(" a small green circle", add_special_tokens=False)["input_ids"]) + 1
    assert ex.input_ids[0].count(model.config.image_token_id) == n


def test_lm_examples_learn_every_token_but_bos(tiny):
    _, proc = tiny
    ex = lm_examples(["a red circle"], proc.tokenizer, 64)
    assert ex.labels[0][0] == IGNORE and IGNORE not in ex.labels[0][1:]
    assert ex.input_ids[0][-1] == proc.tokenizer.eos_token_id


def test_collate_pads_and_masks(tiny):
    _, proc = tiny
    ex = lm_examples(["a red circle", "a circle"], proc.tokenizer, 64)
    b = collate(ex, [0, 1], proc.tokenizer.pad_token_id)
    assert b["input_ids"].shape == b["labels"].shape == b["attention_mask"].shape
    assert b["attention_mask"][1].sum() == len(ex.input_ids[1])
    assert (b["labels"][1][b["attention_mask"][1] == 0] == IGNORE).all()


def test_described_pairs_learn_both_captions_and_no_end(tiny):
    from vdgray.models.vdg.prompt import describe_images
    from vdgray.train.vdg_data import described_pair_examples

    model, proc = tiny
    tok, n = proc.tokenizer, model.config.image_seq_length
    ex = described_pair_examples([(1, 0)], ["a red circle", "a blue circle"], tok, n, 512)
    learned = [x for x in ex.labels[0] if x != IGNORE]
    want = describe_images("a blue circle", "a red circle")
    assert learned == tok(" " + want, add_special_tokens=False)["input_ids"]  # no EOS
    assert ex.images == [[1, 0]] and ex.input_ids[0].count(model.config.image_token_id) == 2 * n


def test_concat_shifts_the_second_tables_rows(tiny):
    from vdgray.train.vdg_data import Examples, concat

    model, proc = tiny
    first = align_examples([b"x", b"y"], ["a", "b"], proc.tokenizer, 1, 64)
    second = Examples([[1]], [[1]], [[0, 1]], [])
    both = concat(first, second, [b"p", b"q"])
    assert both.images == [[0], [1], [2, 3]] and both.image_bytes == [b"x", b"y", b"p", b"q"]


def test_split_examples_in_describe_form_read_captions_from_the_world(tmp_path, tiny):
    from vdgray.errors import DataFormatError
    from vdgray.train.vdg_data import image_captions

    with pytest.raises(DataFormatError, match="needs a synthetic world"):
        image_captions({"cirr": "/some/cirr"})
