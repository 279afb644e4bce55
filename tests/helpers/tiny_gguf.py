"""A tiny Llama in a GGUF file, as llama.cpp's converter lays one out, written with the `gguf`
package's own `GGUFWriter`: the architecture's keys, a byte-level BPE tokenizer (tokens,
merges, token types, special ids, chat template) and the `blk.N.*` tensors in float32.

No vdgray code writes it, so `vdg assemble` with `lm_gguf` is checked against the format a
user downloads (SmolLM2-135M-Instruct ships the same keys and tokenizer type), not against
our own idea of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _byte_level_bpe(texts: list[str], vocab_size: int = 320):
    """(tokens, merges) of a byte-level BPE trained on `texts`, specials first."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(tok.to_str())["model"]
    tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, merges


def save_llama_gguf(path: Path, name: str = "tiny-llama.F32.gguf", *, hidden: int = 64,
                    layers: int = 2, heads: int = 4, kv_heads: int = 2, ffn: int = 128,
                    context: int = 512, seed: int = 0) -> Path:
    """Write `path/name`; returns the file."""
    import gguf

    from helpers.hub_models import WORDS

    texts = [" ".join(WORDS)] * 4 + ["what changed between the two images"]
    tokens, merges = _byte_level_bpe(texts)
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    out = path / name
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(context)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_rope_dimension_count(hidden // heads)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in SPECIAL else 1 for t in tokens])  # 3: control, 1: normal
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|im_start|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|im_end|>"))
    w.add_chat_template(CHAT)

    def tensor(tname: str, *shape: int, scale: float = 0.02) -> None:
        w.add_tensor(tname, (rng.standard_normal(shape) * scale).astype(np.float32))

    head = hidden // heads
    tensor("token_embd.weight", len(tokens), hidden)
    tensor("output.weight", len(tokens), hidden)
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    for i in range(layers):
        b = f"blk.{i}"
        w.add_tensor(f"{b}.attn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(f"{b}.ffn_norm.weight", np.ones(hidden, np.float32))
        tensor(f"{b}.attn_q.weight", hidden, hidden)
        tensor(f"{b}.attn_k.weight", kv_heads * head, hidden)
        tensor(f"{b}.attn_v.weight", kv_heads * head, hidden)
        tensor(f"{b}.attn_output.weight", hidden, hidden)
        tensor(f"{b}.ffn_gate.weight", ffn, hidden)
        tensor(f"{b}.ffn_up.weight", ffn, hidden)
        tensor(f"{b}.ffn_down.weight", hidden, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
