"""Assembling a VDG: a CLIP vision tower + a causal LM + a fresh projector as one HF LLaVA.

`assemble` puts any CLIP vision model and any causal LM into `LlavaForConditionalGeneration`
(the LM's tokenizer gains the `<image>` token if it lacks one), and `make_processor` builds
the `LlavaProcessor` (image processor, tokenizer, patch size, the shared chat template) that
is saved beside the weights, so transformers and vLLM expand the image placeholders and
render the prompt identically. For the synthetic world the LM is a small Llama from random
weights over a word-level tokenizer of the world's texts (`world_tokenizer`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vdgray.errors import DataFormatError
from vdgray.models.vdg.prompt import CHAT_TEMPLATE, IMAGE_TOKEN, prompt_words


def world_tokenizer(texts):
    """Word-level tokenizer over `texts` + the prompt's words; adds BOS only (the response's
    EOS is appended by the training data, never after a prompt)."""
    from tokenizers import processors

    from vdgray.models.tokenizer import BOS, build_word_tokenizer

    tok = build_word_tokenizer(list(texts) + prompt_words())
    bos = tok.convert_tokens_to_ids(BOS)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos)])
    return tok


def llama_config(vocab_size: int, tokenizer, *, hidden: int = 256, layers: int = 4,
                 heads: int = 4, intermediate: int | None = None, max_positions: int = 512):
    """A small `LlamaConfig` for a from-scratch world LM."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )


def ensure_image_token(tokenizer) -> int:
    """Id of `<image>` in `tokenizer`, adding it as a special token if missing."""
    ids = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if ids is None or ids == tokenizer.unk_token_id:
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
        ids = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return int(ids)


def _vision_side(vision_model):
    """(vision config, vision weights) of a dual encoder (CLIPModel, SiglipModel) or of its
    vision model alone (CLIPVisionModel, SiglipVisionModel)."""
    if hasattr(vision_model.config, "vision_config"):
        return vision_model.config.vision_config, vision_model.vision_model.state_dict()
    state = vision_model.state_dict()
    return vision_model.config, {k.removeprefix("vision_model."): v for k, v in state.items()}


def vision_family(vcfg):
    """The `Family` of a vision config (`clip_vision_model` -> clip, ...)."""
    from vdgray.models.families import family_of

    return family_of(vcfg.model_type.removesuffix("_vision_model"), "vision tower")


def assemble(vision_model, lm, tokenizer, *, vision_feature_layer: int = -2, seed: int = 0):
    """A `LlavaForConditionalGeneration` holding `vision_model` (a CLIP or SigLIP dual encoder,
    or its vision model) and `lm` (a causal LM), with a freshly initialised projector. A CLIP
    tower's CLS token is dropped (LLaVA's `default`); SigLIP has none (`full`)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    image_id = ensure_image_token(tokenizer)
    vcfg, vstate = _vision_side(vision_model)
    family = vision_family(vcfg)
    if len(tokenizer) > lm.get_input_embeddings().weight.shape[0]:
        lm.resize_token_embeddings(len(tokenizer))
    tcfg = lm.config
    n_patches = (vcfg.image_size // vcfg.patch_size) ** 2
    cfg = LlavaConfig(
        vision_config=vcfg.to_dict(),
        text_config=tcfg.to_dict(), image_token_index=image_id, image_seq_length=n_patches,
        vision_feature_layer=vision_feature_layer,
        vision_feature_select_strategy=family.vdg_feature_strategy,
        projector_hidden_act="gelu", tie_word_embeddings=False,
    )
    cfg.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    model.model.vision_tower.load_state_dict(vstate)
    lm_state = lm.state_dict()
    model.model.language_model.load_state_dict(
        {k.removeprefix("model."): v for k, v in lm_state.items() if k.startswith("model.")})
    model.lm_head.load_state_dict({"weight": lm_state["lm_head.weight"]})
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    return model.eval()


def make_processor(image_processor, tokenizer, vision_config):
    """The LlavaProcessor saved with every VDG dir: one `<image>` -> one token per patch (a
    CLIP tower's CLS dropped), the shared chat template."""
    from transformers import LlavaProcessor

    family = vision_family(vision_config)
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer,
        patch_size=vision_config.patch_size,
        vision_feature_select_strategy=family.vdg_feature_strategy,
        num_additional_image_tokens=family.vdg_extra_tokens,
        chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN,
    )


# The weight names of the llava-hf checkpoints (llava-1.5), which vLLM's LLaVA loader reads:
# its CLIP tower is a CLIPVisionModel (weights under `vision_model.`) and its LM a causal LM.
# transformers 5 names the same modules `model.vision_tower.*` (no `vision_model.`),
# `model.multi_modal_projector.*`, `model.language_model.*` and `lm_head.*`, and its own save
# writes `vision_tower.embeddings.*`, which vLLM cannot load.
_TO_LLAVA_HF = (("model.vision_tower.", "vision_tower.vision_model."),
                ("model.multi_modal_projector.", "multi_modal_projector."),
                ("model.language_model.", "language_model.model."),
                ("lm_head.", "language_model.lm_head."))
LLAVA_HF_PREFIXES = tuple(new for _, new in _TO_LLAVA_HF)


def canonical_llava_state_dict(model) -> dict:
    """`model`'s weights under the llava-hf names (transformers reads both layouts back)."""
    out = {}
    for key, value in model.state_dict().items():
        for old, new in _TO_LLAVA_HF:
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            raise DataFormatError(f"LLaVA weight {key!r} has no llava-hf name")
    return out


def save_vdg(model, processor, path: str | Path) -> None:
    """Write a plain HF LLaVA dir in the canonical llava-hf layout (the one vLLM loads):
    config, safetensors, generation config, tokenizer, processor."""
    model.save_pretrained(path, state_dict=canonical_llava_state_dict(model),
                          save_original_format=False)
    processor.save_pretrained(path)


def saved_response_format(model_uri: str) -> str:
    """The response format a VDG dir (local or s3://) records in its config.json."""
    from types import SimpleNamespace

    from vdgray import storage
    from vdgray.models.vdg.prompt import RESPONSE_FORMAT_KEY, response_format

    cfg = storage.read_json(storage.join(str(model_uri), "config.json"))
    try:
        return response_format(SimpleNamespace(**{RESPONSE_FORMAT_KEY: cfg.get(RESPONSE_FORMAT_KEY)}))
    except ValueError as e:
        raise DataFormatError(f"{model_uri}/config.json: {e}") from None


def load_vdg(path: str | Path, dtype=None):
    """(LlavaForConditionalGeneration, LlavaProcessor) from a local LLaVA dir."""
    from transformers import LlavaForConditionalGeneration, LlavaProcessor

    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise DataFormatError(f"{path}: not a model directory (no config.json)")
    model_type = json.loads(cfg_file.read_text()).get("model_type")
    if model_type != "llava":
        raise DataFormatError(f"{cfg_file}: model_type {model_type!r} is not a LLaVA model")
    model = LlavaForConditionalGeneration.from_pretrained(path, dtype=dtype or torch.float32)
    processor = LlavaProcessor.from_pretrained(path)
    return model.eval(), processor


def tiny_vdg(seed: int = 0, lm_hidden: int = 32, lm_layers: int = 1, texts=()):
    """A tiny random VDG for tests: tiny-clip's vision tower + a 1-layer Llama (no files)."""
    from transformers import LlamaForCausalLM

    from vdgray.models.registry import WORDS, load_encoder

    enc = load_encoder("tiny-clip")
    tok = world_tokenizer([" ".join(WORDS), *texts])
    torch.manual_seed(seed)
    lm = LlamaForCausalLM(llama_config(len(tok), tok, hidden=lm_hidden, layers=lm_layers,
                                       heads=2, max_positions=256))
    model = assemble(enc.model, lm, tok, seed=seed)
    proc = make_processor(enc.processor, tok, enc.model.config.vision_config)
    return model, proc


ADAPTER_DIR = "adapter"


def load_trained(path: str | Path, dtype=None):
    """(model, processor) from a VDG dir; a LoRA adapter in `adapter/` is applied unmerged."""
    model, processor = load_vdg(path, dtype)
    adapter = Path(path) / ADAPTER_DIR
    if adapter.is_dir():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).eval()
    return model, processor
