"""A VDG from the user's own checkpoints: a llava-hf dir named by its files, SigLIP towers."""

from __future__ import annotations

import shutil

import pytest
from helpers.hub_models import save_clip, save_llama, save_llava, save_siglip
from helpers.images import noise_png

from vdgray import manifest
from vdgray.errors import DataFormatError
from vdgray.models.vdg.identity import checkpoint_fingerprint, vdg_identity


def test_a_hub_llava_is_named_by_its_files_the_same_on_every_read_and_copy(tmp_path):
    llava = save_llava(tmp_path / "llava")
    first = vdg_identity(str(llava))
    assert set(first) == {"checkpoint"}
    assert vdg_identity(str(llava)) == first
    copy = shutil.copytree(llava, tmp_path / "elsewhere")
    assert vdg_identity(str(copy)) == first


def test_other_weights_of_the_same_shape_get_another_name(tmp_path):
    a = checkpoint_fingerprint(str(save_llava(tmp_path / "a", seed=0)))
    b = checkpoint_fingerprint(str(save_llava(tmp_path / "b", seed=1)))
    assert a != b


def test_a_vdgray_vdg_is_named_by_its_manifest(tmp_path):
    llava = save_llava(tmp_path / "llava")
    manifest.write_manifest(str(llava), stage="vdg-model", files=["config.json"])
    doc = manifest.read_manifest(str(llava), stage="vdg-model")
    assert vdg_identity(str(llava)) == {"created_at": doc["created_at"],
                                        "code_version": doc["code_version"]}


def test_a_directory_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(DataFormatError, match="no weight files"):
        checkpoint_fingerprint(str(tmp_path))


@pytest.mark.parametrize("vision,tokens", [(save_clip, 16), (save_siglip, 16)])
def test_assemble_takes_hub_vision_towers_and_a_hub_lm(tmp_path, vision, tokens):
    from vdgray.models.vdg.build import load_vdg, save_vdg
    from vdgray.models.vdg.generate import generate_deltas
    from vdgray.stages.vdg_assemble import AssembleConfig, build

    cfg = AssembleConfig(vision=str(vision(tmp_path / "vision")),
                         lm=str(save_llama(tmp_path / "lm")), output=str(tmp_path / "vdg"))
    model, proc = build(cfg)
    assert model.config.image_seq_length == tokens
    save_vdg(model, proc, tmp_path / "vdg")
    model, proc = load_vdg(tmp_path / "vdg")
    ids = proc(images=[_img(0), _img(1)], text=["<image> <image>"], return_tensors="pt")
    assert int((ids["input_ids"] == model.config.image_token_id).sum()) == 2 * tokens
    out = generate_deltas(model, proc, [noise_png(0)], [noise_png(1)], do_sample=False,
                          max_new_tokens=4)
    assert len(out) == 1 and isinstance(out[0], str)


def _img(seed):
    from vdgray.data.images import decode_image

    return decode_image(noise_png(seed))


def test_a_blip_is_not_a_vdg_vision_tower(tmp_path):
    from helpers.hub_models import save_blip

    from vdgray.stages.vdg_assemble import AssembleConfig, build

    cfg = AssembleConfig(vision=str(save_blip(tmp_path / "blip")),
                         lm=str(save_llama(tmp_path / "lm")), output=str(tmp_path / "vdg"))
    with pytest.raises(DataFormatError, match="must be a dual encoder's vision side"):
        build(cfg)


def test_hub_weight_names_and_transformers5_names_both_load_but_only_one_serves_on_vllm(tmp_path):
    from vdgray.errors import ConfigError
    from vdgray.models.vdg.build import load_vdg
    from vdgray.stages.generate.vllm_backend import check_servable, transformers5_weight_names

    hub = save_llava(tmp_path / "hub", lm_hidden=64)
    t5 = save_llava(tmp_path / "t5", names="transformers", lm_hidden=64)
    a, b = load_vdg(hub)[0].state_dict(), load_vdg(t5)[0].state_dict()
    assert all(a[k].equal(b[k]) for k in a)
    assert transformers5_weight_names(hub) == []
    check_servable(hub, on_gpu=False)
    assert transformers5_weight_names(t5) == ["model.safetensors"]
    with pytest.raises(ConfigError, match="model.safetensors: LLaVA weights under transformers 5"):
        check_servable(t5, on_gpu=True)


def test_assemble_reads_an_lm_shipped_as_gguf_and_saves_a_vdg_that_generates(tmp_path):
    from helpers.tiny_gguf import save_llama_gguf

    from vdgray.models.vdg.build import load_vdg, save_vdg
    from vdgray.models.vdg.generate import generate_deltas
    from vdgray.stages.vdg_assemble import AssembleConfig, build

    gguf = save_llama_gguf(tmp_path / "lm", hidden=64, layers=2, kv_heads=2)
    cfg = AssembleConfig(vision=str(save_clip(tmp_path / "vision")), lm=str(gguf.parent),
                         lm_gguf=gguf.name, output=str(tmp_path / "vdg"))
    model, proc = build(cfg)
    lm = model.config.text_config
    assert (lm.hidden_size, lm.num_hidden_layers, lm.num_key_value_heads) == (64, 2, 2)
    assert proc.tokenizer.eos_token == "<|im_end|>"  # the file's special ids, not defaults
    save_vdg(model, proc, tmp_path / "vdg")
    assert not list((tmp_path / "vdg").glob("*.gguf"))  # saved as safetensors for vLLM
    saved = (tmp_path / "vdg" / "config.json").read_text()
    assert "quantization_config" not in saved  # float32 now; vLLM refuses `quant_method: gguf`
    model, proc = load_vdg(tmp_path / "vdg")
    out = generate_deltas(model, proc, [noise_png(0)], [noise_png(1)], do_sample=False,
                          max_new_tokens=4)
    assert len(out) == 1


def test_assemble_names_the_gguf_files_there_when_lm_gguf_is_not_one_of_them(tmp_path):
    from helpers.tiny_gguf import save_llama_gguf

    from vdgray.errors import StorageError
    from vdgray.stages.vdg_assemble import AssembleConfig, build

    gguf = save_llama_gguf(tmp_path / "lm")
    cfg = AssembleConfig(vision=str(save_clip(tmp_path / "vision")), lm=str(gguf.parent),
                         lm_gguf="SmolLM2-135M-Instruct.Q4_1.gguf", output=str(tmp_path / "v"))
    with pytest.raises(StorageError, match=r"SmolLM2-135M-Instruct.Q4_1.gguf is not in .*"
                                           r"GGUF files there: tiny-llama.F32.gguf"):
        build(cfg)
    with pytest.raises(ValueError, match="lm_gguf: names a GGUF file in the lm dir"):
        AssembleConfig(vision="tiny-clip", lm_gguf=gguf.name, world=str(tmp_path),
                       output=str(tmp_path / "v"))
