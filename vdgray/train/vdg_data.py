"""Training examples of the three VDG stages, tokenised the way the processor would.

- `lm`: world texts only ([BOS] text [EOS], loss on every token) — the from-scratch world LM's
  stand-in for the pre-training a real LLM arrives with.
- `align`: one image + its caption (`caption_prompt`), loss on the caption tokens only.
- `instruct`: reference + target image + the delta (`build_prompt`), loss on the response
  tokens only: every prompt and image position is -100.

Each `<image>` is expanded to the model's image-token count before tokenising, exactly as
`LlavaProcessor` does, so training sees the same ids the generation backends build.
`split_examples` (a CIRR split's instruct examples) and `pixel_values` (their images) serve
both the training loop and the held-out metrics, which import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vdgray.errors import DataFormatError
from vdgray.models.vdg.prompt import (
    DELTA,
    DESCRIBE,
    IMAGE_TOKEN,
    build_prompt,
    caption_prompt,
    describe_images,
    describe_response,
)

IGNORE = -100


@dataclass
class Examples:
    """Tokenised examples; `images[i]` indexes rows of a shared image table (or is empty)."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    images: list[list[int]]
    image_bytes: list[bytes]

    def __len__(self) -> int:
        return len(self.input_ids)


def expand_images(text: str, n_tokens: int) -> str:
    """Each `<image>` placeholder becomes `n_tokens` image tokens (what the processor does)."""
    return text.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_tokens)


def encode(tokenizer, prompt: str, response: str, max_length: int, eos: bool = True
           ) -> tuple[list[int], list[int]]:
    """(input_ids, labels): [BOS] prompt (masked) + response + [EOS] (learned), truncated.
    `eos=False`: the response is a beginning (nothing is learned about what follows it)."""
    p_ids = tokenizer(prompt)["input_ids"] if prompt else [tokenizer.bos_token_id]
    r_ids = tokenizer(" " + response.strip(), add_special_tokens=False)["input_ids"]
    r_ids = r_ids + ([tokenizer.eos_token_id] if eos else [])
    ids = (p_ids + r_ids)[:max_length]
    labels = ([IGNORE] * len(p_ids) + r_ids)[:max_length]
    return ids, labels


def lm_examples(texts: list[str], tokenizer, max_length: int) -> Examples:
    """Plain language-model examples; the BOS is the only position without a label."""
    ids, labels = [], []
    for t in texts:
        i, lab = encode(tokenizer, "", t, max_length)
        ids.append(i)
        labels.append(lab)
    return Examples(ids, labels, [[] for _ in ids], [])


def align_examples(images: list[bytes], captions: list[str], tokenizer, n_image_tokens: int,
                   max_length: int) -> Examples:
    """One image + caption per example (stage 1)."""
    prompt = expand_images(caption_prompt(), n_image_tokens)
    ids, labels = [], []
    for c in captions:
        i, lab = encode(tokenizer, prompt, c, max_length)
        ids.append(i)
        labels.append(lab)
    return Examples(ids, labels, [[k] for k in range(len(images))], list(images))


def instruct_examples(references: list[str], targets: list[str], responses: list[str],
                      read_image, tokenizer, n_image_tokens: int, max_length: int) -> Examples:
    """Reference + target + response per example (stage 2); images are read once each."""
    prompt = expand_images(build_prompt(), n_image_tokens)
    names: dict[str, int] = {}
    for n in [*references, *targets]:
        names.setdefault(n, len(names))
    ids, labels, imgs = [], [], []
    for r, t, d in zip(references, targets, responses, strict=True):
        i, lab = encode(tokenizer, prompt, d, max_length)
        if sum(x == tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) for x in i) != 2 * n_image_tokens:
            raise DataFormatError(f"max_length {max_length} cuts into the image tokens of the prompt")
        ids.append(i)
        labels.append(lab)
        imgs.append([names[r], names[t]])
    return Examples(ids, labels, imgs, [read_image(n) for n in names])


def collate(examples: Examples, idx: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors of examples `idx` plus the flat list of their image rows."""
    width = max(len(examples.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    rows: list[int] = []
    for b, i in enumerate(idx):
        n = len(examples.input_ids[i])
        ids[b, :n] = torch.tensor(examples.input_ids[i])
        labels[b, :n] = torch.tensor(examples.labels[i])
        mask[b, :n] = 1
        rows += examples.images[i]
    return {"input_ids": ids, "labels": labels, "attention_mask": mask,
            "image_rows": torch.tensor(rows, dtype=torch.long)}


def split_examples(config: dict, split_name: str, limit: int | None, tokenizer, n_img: int):
    """Instruct examples of the first `limit` pairs (all when None) of a CIRR split, in the
    configured response format (`describe` reads the images' captions from a world's truth)."""
    from vdgray.data.cirr import load_cirr

    split = load_cirr(cirr_root(config), split_name, image_root=config.get("image_root"))
    qs = split.queries[:limit] if limit else split.queries
    responses = [q.caption for q in qs]
    if config.get("response", DELTA) == DESCRIBE:
        captions = image_captions(config)
        responses = [describe_response(captions[q.reference], captions[q.target], q.caption)
                     for q in qs]
    return instruct_examples([q.reference for q in qs], [q.target for q in qs], responses,
                             split.read_image, tokenizer, n_img, config["max_length"])


def image_captions(config: dict) -> dict[str, str]:
    """Every image's caption from the world's truth (what `describe` responses say)."""
    from vdgray import storage
    from vdgray.layout import TRUTH_IMAGES, truth_file

    if not config.get("world"):
        raise DataFormatError("response describe needs a synthetic world (its truth holds the "
                              "captions of the human triplets' images); set world")
    t = storage.read_parquet(truth_file(config["world"], TRUTH_IMAGES),
                             columns=["image_id", "caption"])
    return dict(zip(t.column("image_id").to_pylist(), t.column("caption").to_pylist(),
                    strict=True))


def prior_examples(texts: list[tuple[str, str, str]], tokenizer, max_length: int) -> Examples:
    """The language prior as text: describe responses (two captions, then the change)."""
    return lm_examples([describe_response(a, b, d) for a, b, d in texts], tokenizer, max_length)


def described_pair_examples(pairs: list[tuple[int, int]], captions: list[str], tokenizer,
                            n_image_tokens: int, max_length: int) -> Examples:
    """Two images in the instruct frame, the response describing both and stopping before the
    change (rows index the caller's image table; no EOS is learned)."""
    prompt = expand_images(build_prompt(), n_image_tokens)
    ids, labels, imgs = [], [], []
    for a, b in pairs:
        i, lab = encode(tokenizer, prompt, describe_images(captions[a], captions[b]), max_length,
                        eos=False)
        ids.append(i)
        labels.append(lab)
        imgs.append([a, b])
    return Examples(ids, labels, imgs, [])


def concat(first: Examples, second: Examples, second_images: list) -> Examples:
    """`first` then `second`, `second`'s image rows shifted past `first`'s table, whose images
    `second_images` extend."""
    shift = len(first.image_bytes)
    return Examples(first.input_ids + second.input_ids, first.labels + second.labels,
                    first.images + [[r + shift for r in rows] for rows in second.images],
                    list(first.image_bytes) + list(second_images))


def pixel_values(processor, images: list) -> torch.Tensor:
    """The processor's pixel values of images (encoded bytes or PIL), in order."""
    from vdgray.data.images import decode_image

    pil = [decode_image(b) if isinstance(b, bytes | bytearray) else b for b in images]
    return processor.image_processor(images=pil, return_tensors="pt")["pixel_values"]


def cirr_root(config: dict) -> str:
    """The human triplets' CIRR root: `cirr`, else the world's cirr/."""
    from vdgray import layout

    return config.get("cirr") or layout.cirr_root(config["world"])
