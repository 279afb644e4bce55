"""Tiny checkpoints in the files a user brings: transformers' own classes and processors.

Each `save_*` builds a random tiny model of the real class (CLIPModel, SiglipModel,
BlipForImageTextRetrieval, LlamaForCausalLM, LlavaForConditionalGeneration) with the family's
own tokenizer and image processor, and writes it with `save_pretrained` in one of two layouts:

- `hub`: the image processor in `preprocessor_config.json` and the tokenizer files beside the
  weights, as the hub serves checkpoints;
- `processor`: the model's processor saved whole (transformers 5 nests the image processor
  in `processor_config.json`, and writes no `preprocessor_config.json`).

No vdgray code builds them, so a test that loads them checks vdgray against what
transformers itself writes. Image sizes differ from the square default on purpose (a CLIP
resized to a shorter side then centre-cropped, a BLIP at a size no crop gives) so a
preprocessing mix-up shows in the pixel values.
"""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("make it red blue green the a an circle star square left right bigger smaller "
         "change to on of with is background small large").split()
LAYOUTS = ("hub", "processor")


def _save(path: Path, model, processor, image_processor, tokenizer, layout: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    if layout == "hub":
        image_processor.save_pretrained(path)
        tokenizer.save_pretrained(path)
    elif layout == "processor":
        processor.save_pretrained(path)
    else:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    return path


def clip_tokenizer():
    """A CLIPTokenizer over single letters (BPE with no merges): real CLIP tokenization."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in "abcdefghijklmnopqrstuvwxyz":
            vocab[c + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def bert_tokenizer():
    """BLIP's tokenizer class (BertTokenizer) over WORDS."""
    from transformers import BertTokenizer

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    return BertTokenizer(vocab={w: i for i, w in enumerate(special + WORDS)})


def siglip_tokenizer(work: Path):
    """SigLIP's tokenizer class (SiglipTokenizer, sentencepiece) trained on WORDS."""
    import sentencepiece as spm
    from transformers import SiglipTokenizer

    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(work / "sp"), vocab_size=40, model_type="unigram", hard_vocab_limit=False,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    return SiglipTokenizer(vocab_file=str(work / "sp.model"))


def save_clip(path: Path, layout: str = "hub", seed: int = 0) -> Path:
    """A tiny CLIPModel; its image processor resizes the short side to 40, crops 32."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok = clip_tokenizer()
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=24,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2),
        projection_dim=16)
    torch.manual_seed(seed)
    model = CLIPModel(cfg)
    ip = CLIPImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32})
    return _save(path, model, CLIPProcessor(image_processor=ip, tokenizer=tok), ip, tok, layout)


def save_siglip(path: Path, layout: str = "hub", seed: int = 0) -> Path:
    """A tiny SiglipModel (its processor squashes to 32x32, mean/std 0.5)."""
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    tok = siglip_tokenizer(path.parent / f".{path.name}-sp")
    cfg = SiglipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16,
                         pad_token_id=0, eos_token_id=1, bos_token_id=None),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2))
    torch.manual_seed(seed)
    model = SiglipModel(cfg)
    ip = SiglipImageProcessor(size={"height": 32, "width": 32})
    return _save(path, model, SiglipProcessor(image_processor=ip, tokenizer=tok), ip, tok, layout)


def save_blip(path: Path, layout: str = "hub", seed: int = 0) -> Path:
    """A tiny BlipForImageTextRetrieval at 48x48 (a CLIP processor would crop it)."""
    from transformers import (
        BlipConfig,
        BlipForImageTextRetrieval,
        BlipImageProcessor,
        BlipProcessor,
    )

    tok = bert_tokenizer()
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, encoder_hidden_size=32,
                         max_position_embeddings=40, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3, sep_token_id=3),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=48, patch_size=8),
        image_text_hidden_size=16)
    torch.manual_seed(seed)
    model = BlipForImageTextRetrieval(cfg)
    ip = BlipImageProcessor(size={"height": 48, "width": 48})
    return _save(path, model, BlipProcessor(image_processor=ip, tokenizer=tok), ip, tok, layout)


def llama_tokenizer():
    """A word-level fast tokenizer with BOS/EOS/PAD, as a small LM's tokenizer.json is."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {w: i for i, w in enumerate(special + WORDS + ["reference:", "target:",
                                                           "response:", "describe", "into",
                                                           "image", "turns", "that"])}
    t = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    t.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def save_llama(path: Path, seed: int = 0) -> Path:
    """A tiny LlamaForCausalLM with its tokenizer (a causal LM dir as the hub has it)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = llama_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=256, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      tie_word_embeddings=False)
    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


# The weight names of the llava-hf checkpoints on the hub (llava-1.5-7b-hf and its kin),
# written out here rather than imported, so the fixture does not lean on vdgray's own copy.
HUB_LLAVA_NAMES = (("model.vision_tower.", "vision_tower.vision_model."),
                   ("model.multi_modal_projector.", "multi_modal_projector."),
                   ("model.language_model.", "language_model.model."),
                   ("lm_head.", "language_model.lm_head."))


def save_llava(path: Path, layout: str = "processor", seed: int = 0, names: str = "hub",
               lm_hidden: int = 32) -> Path:
    """A tiny llava-1.5-shaped LlavaForConditionalGeneration (CLIP vision tower, CLS dropped,
    Llama LM with heads of lm_hidden / 2) with its LlavaProcessor; no vdgray manifest.
    `names`: "hub" writes the llava-hf weight names the hub's checkpoints have,
    "transformers" what transformers 5's own `save_pretrained` writes."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = llama_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_id = tok.convert_tokens_to_ids("<image>")
    cfg = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", image_size=32, patch_size=8,
                           hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=lm_hidden,
                         intermediate_size=2 * lm_hidden, num_hidden_layers=1,
                         num_attention_heads=2,
                         num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id),
        image_token_index=image_id, image_seq_length=16, vision_feature_layer=-2,
        vision_feature_select_strategy="default", tie_word_embeddings=False)
    cfg.pad_token_id = tok.pad_token_id
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (
        tok.pad_token_id, tok.eos_token_id, tok.bos_token_id)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=8,
                          vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, image_token="<image>")
    _save(path, model, proc, ip, tok, layout)
    if names == "hub":
        state = {}
        for key, value in model.state_dict().items():
            old, new = next((o, n) for o, n in HUB_LLAVA_NAMES if key.startswith(o))
            state[new + key[len(old):]] = value
        model.save_pretrained(path, state_dict=state, save_original_format=False)
    elif names != "transformers":
        raise ValueError("names must be hub or transformers")
    return path


SAVERS = {"clip": save_clip, "siglip": save_siglip, "blip": save_blip}
