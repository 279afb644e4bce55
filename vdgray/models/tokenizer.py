"""A word-level tokenizer built from a corpus, saved in Hugging Face format.

The synthetic world has a closed, tiny vocabulary (shapes, colours, sizes, positions), so a
word-level tokenizer trained on its captions is exact and small. It is built with the
`tokenizers` library and wrapped as a `PreTrainedTokenizerFast`, so `save_pretrained` /
`AutoTokenizer.from_pretrained` round-trip it and the world CLIP and the VDG language model
share one vocabulary (hence the "<image>" special token and the pad/bos/eos ids).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

PAD, UNK, BOS, EOS, IMAGE = "[PAD]", "[UNK]", "[BOS]", "[EOS]", "<image>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS, IMAGE)


def _pipeline():
    """The normaliser and pre-tokeniser shared by training and encoding."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    return normalizer, pre


def build_word_tokenizer(texts: Iterable[str], min_freq: int = 1, extra_special: Iterable[str] = ()):
    """Build a lower-cased WordLevel tokenizer over `texts` (words seen >= `min_freq` times).

    Ids 0..4 are [PAD] [UNK] [BOS] [EOS] <image>, then `extra_special`, then the words in
    order of decreasing frequency (ties alphabetical), so the same corpus gives the same ids.
    """
    from tokenizers import Tokenizer, models, processors
    from transformers import PreTrainedTokenizerFast

    normalizer, pre = _pipeline()
    counts: Counter[str] = Counter()
    for text in texts:
        norm = normalizer.normalize_str(str(text))
        counts.update(w for w, _ in pre.pre_tokenize_str(norm))
    specials = list(SPECIAL_TOKENS) + [s for s in extra_special if s not in SPECIAL_TOKENS]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_freq and word not in vocab:
            vocab[word] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        pair=f"{BOS} $A {EOS} $B {EOS}",
        special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        additional_special_tokens=[IMAGE] + [s for s in specials[len(SPECIAL_TOKENS):]],
    )
    fast.model_max_length = 10**6
    return fast
