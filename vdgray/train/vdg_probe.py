"""Does the VDG read the image? Held-out caption-word accuracy per attribute (world only).

A delta can only be right if the model reads each image, so the align stage reports, per
epoch, how often the model's next-token argmax (teacher-forced, one image + its caption) is
the true shape, colour, size and background word of held-out images: the world's CIRR val
images, which neither stage trains on. Chance is 1/7, 1/8, 1/3 and 1/4. This is how we found
that a world LM pre-trained on text alone never learns to read images in align (background
stayed at chance, 0.27), while one that learns language and images together reads the
background at 1.00 after one epoch.
"""

from __future__ import annotations

import torch

from vdgray import manifest, storage
from vdgray.data.synthetic.attributes import VOCAB
from vdgray.layout import TRUTH, TRUTH_IMAGES, TRUTH_STAGE, world_part

PROBED = ("shape", "colour", "size", "background")


def heldout_captions(world: str, limit: int = 300) -> tuple[list[str], list[str]] | None:
    """(image names, true captions) of up to `limit` CIRR val images of a synthetic world,
    or None when the world has no truth/ (not a world `vdgray synth` wrote)."""
    truth = world_part(world, TRUTH)
    if not manifest.is_complete(truth, TRUTH_STAGE):
        return None
    rows = storage.read_parquet([storage.join(truth, TRUTH_IMAGES)],
                                columns=["name", "split", "caption"]).to_pylist()
    rows = [r for r in rows if r["split"] == "val"][:limit]
    return [r["name"] for r in rows], [r["caption"] for r in rows]


def word_categories(tokenizer) -> dict[int, str]:
    """Token id -> attribute for every single-token attribute word of the world's vocabulary."""
    out = {}
    for attr in PROBED:
        for word in VOCAB[attr]:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                out[ids[0]] = attr
    return out


@torch.no_grad()
def caption_word_accuracy(module, examples, features: torch.Tensor, categories: dict[int, str],
                          pad_id: int, batch_size: int = 50) -> dict[str, float]:
    """{"read_<attribute>": accuracy} of `module` (a VdgForward) on align `examples`, whose
    image rows index `features`. Attributes with no labelled word are left out."""
    from vdgray.train.vdg_data import collate

    model = module.model
    was_training = model.training
    model.eval()
    hits: dict[str, int] = {}
    totals: dict[str, int] = {}
    device = features.device
    for i in range(0, len(examples), batch_size):
        b = collate(examples, list(range(i, min(i + batch_size, len(examples)))), pad_id)
        logits = module.logits(b["input_ids"].to(device), b["attention_mask"].to(device),
                               features[b["image_rows"]])
        pred = logits[:, :-1].argmax(-1).cpu()
        labels = b["labels"][:, 1:]
        for p, t in zip(pred.flatten().tolist(), labels.flatten().tolist(), strict=True):
            attr = categories.get(t)
            if attr:
                totals[attr] = totals.get(attr, 0) + 1
                hits[attr] = hits.get(attr, 0) + (p == t)
    model.train(was_training)
    return {f"read_{a}": hits[a] / totals[a] for a in PROBED if totals.get(a)}
