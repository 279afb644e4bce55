"""Held-out loss of the instruct stage, with the true images and with the target hidden.

The train loss hid both failures of the world VDG. It fell to 0.58 while exact match stayed
near 0.05, because the model fitted its 1,000 triplets instead of learning deltas. And a VDG
that ignored its images trained just as well. So instruct also reports, every epoch, on the
human pairs of a held-out CIRR split (`val_split`, val by default):

- `val_loss`: mean loss per response token given (reference, target). A run past its best
  shows it rising while the train loss still falls.
- `val_loss_reference_twice`: the same given (reference, reference), the target hidden.
- `val_image_gain`: the second minus the first. Near 0, the delta does not depend on the
  target image.
"""

from __future__ import annotations

import torch

from vdgray.train.vdg_data import IGNORE, Examples, collate, pixel_values, split_examples


def heldout_pairs(config: dict, model, processor):
    """(instruct examples, vision features) of up to `val_limit` pairs of `val_split`, or None
    (not the instruct stage, or `val_split` unset)."""
    from vdgray.models.vdg.stages import vision_features

    if config["stage"] != "instruct" or not config.get("val_split"):
        return None
    ex = split_examples(config, config["val_split"], config.get("val_limit"),
                        processor.tokenizer, int(model.config.image_seq_length))
    if not len(ex):
        return None
    return ex, vision_features(model, pixel_values(processor, ex.image_bytes))


def reference_twice(examples: Examples) -> Examples:
    """The same examples with the reference image in the target slot too."""
    return Examples(examples.input_ids, examples.labels,
                    [[rows[0]] * len(rows) for rows in examples.images], examples.image_bytes)


@torch.no_grad()
def response_loss(module, examples: Examples, features: torch.Tensor, pad_id: int,
                  batch_size: int = 50) -> float:
    """Mean next-token loss over every labelled (response) token of `examples`."""
    model = module.model
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device = features.device
    for i in range(0, len(examples), batch_size):
        b = collate(examples, list(range(i, min(i + batch_size, len(examples)))), pad_id)
        logits = module.logits(b["input_ids"].to(device), b["attention_mask"].to(device),
                               features[b["image_rows"].to(device)])
        labels = b["labels"][:, 1:].to(device)
        total += float(torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE,
            reduction="sum"))
        count += int((labels != IGNORE).sum())
    model.train(was_training)
    return total / max(1, count)


def heldout_metrics(module, heldout, pad_id: int) -> dict[str, float]:
    """{"val_loss", "val_loss_reference_twice", "val_image_gain"} on `heldout_pairs` output."""
    examples, features = heldout
    true = response_loss(module, examples, features, pad_id)
    hidden = response_loss(module, reference_twice(examples), features, pad_id)
    return {"val_loss": true, "val_loss_reference_twice": hidden, "val_image_gain": hidden - true}
