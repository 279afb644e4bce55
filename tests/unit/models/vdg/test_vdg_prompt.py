"""The one VDG prompt: chat template == build_prompt(), and the processor's image expansion."""

from __future__ import annotations

import pytest
from PIL import Image

from vdgray.models.vdg.build import tiny_vdg
from vdgray.models.vdg.prompt import IMAGE_TOKEN, SYSTEM, build_prompt, chat_messages


@pytest.fixture(scope="module")
def tiny():
    return tiny_vdg()


def test_prompt_has_paper_structure():
    p = build_prompt()
    assert p.startswith(SYSTEM)
    assert p.count(IMAGE_TOKEN) == 2
    assert p.index("Reference:") < p.index(IMAGE_TOKEN) < p.index("Target:") < p.rindex(
        IMAGE_TOKEN) < p.index("Response:")
    assert p.endswith("Response:")
    assert build_prompt("make it red") == p + " make it red"


def test_chat_template_renders_exactly_build_prompt(tiny):
    _, proc = tiny
    assert proc.apply_chat_template(chat_messages(), tokenize=False) == build_prompt()


def test_saved_processor_keeps_template(tiny, tmp_path):
    from vdgray.models.vdg.build import load_vdg, save_vdg

    model, proc = tiny
    save_vdg(model, proc, tmp_path)
    _, loaded = load_vdg(tmp_path)
    assert loaded.apply_chat_template(chat_messages(), tokenize=False) == build_prompt()


def test_processor_expands_each_image_to_patch_tokens(tiny):
    model, proc = tiny
    images = [Image.new("RGB", (40, 40), (200, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 200))]
    batch = proc(images=images, text=[build_prompt()], return_tensors="pt")
    n_image = int((batch["input_ids"] == model.config.image_token_id).sum())
    assert n_image == 2 * model.config.image_seq_length == 2 * (32 // 8) ** 2
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    # the prompt ends at "Response:" (no EOS appended after it)
    tok = proc.tokenizer
    assert batch["input_ids"][0, 0] == tok.bos_token_id
    assert tok.eos_token_id not in batch["input_ids"][0].tolist()
