"""The world LM: trained on the language prior, saved as an HF causal-LM dir that
`vdg assemble` puts under a vision tower, and the shipped checkpoint resolves by name."""

import json

from vdgray.layout import WORLD_LM
from vdgray.stages.vdg_assemble import AssembleConfig, build, lm_dir
from vdgray.train.world_lm import examples, main, shipped_dir


def test_examples_learn_the_change_and_its_end_only():
    from vdgray.models.vdg.build import world_tokenizer
    from vdgray.train.vdg_data import IGNORE

    tok = world_tokenizer(["a red circle", "a blue circle", "make it blue"])
    ex = examples(tok, [("a red circle", "a blue circle", "make it blue")])
    learned = [x for x in ex.labels[0] if x != IGNORE]
    assert learned == tok(" make it blue", add_special_tokens=False)["input_ids"] + [
        tok.eos_token_id]


def test_a_trained_world_lm_assembles_under_a_vision_tower(tmp_path):
    out = tmp_path / "lm"
    main(["--out", str(out), "--texts", "128", "--batch-size", "32", "--eval-every", "2"])
    meta = json.loads((out / "world_lm.json").read_text())
    assert [h["step"] for h in meta["history"]] == [2, 4]
    assert meta["config"]["hidden"] == 256 and meta["config"]["texts"] == 128
    model, proc = build(AssembleConfig(vision="tiny-clip", lm=str(out), output=str(tmp_path / "v")))
    lm = model.model.language_model
    import torch

    assert next(lm.parameters()).dtype == torch.float32  # saved in fp16, trained in fp32
    assert model.config.text_config.hidden_size == 256
    ids = proc.tokenizer("before: a small red circle after: a large red circle change:",
                         add_special_tokens=False)["input_ids"]
    assert proc.tokenizer.unk_token_id not in ids


def test_the_shipped_world_lm_resolves_by_name():
    assert AssembleConfig(vision="tiny-clip", lm=WORLD_LM, output="/o").lm == WORLD_LM
    path = lm_dir(WORLD_LM)
    assert path == shipped_dir()
    meta = json.loads((path / "world_lm.json").read_text())
    assert meta["config"]["texts"] >= 100_000 and meta["history"][-1]["exact_match"] > 0.3
