"""What each VDG training stage trains, LoRA on the LM, and a forward over cached features.

- `lm`: the language model only (text), for the from-scratch world LM.
- `align`: the projector only; vision tower and LM frozen.
- `instruct`: the projector + LoRA adapters on the LM's linear layers (peft).

The vision tower is frozen in every stage, so its selected hidden states are computed once per
image (`vision_features`) and `VdgForward` runs projector + LM on them — the same arithmetic
as `LlavaForConditionalGeneration.forward(pixel_values=...)`, without re-encoding images
every epoch. LoRA is injected into the LLaVA module in place, so the wrapped module trains
the adapters while names stay those of the plain LLaVA model.
"""

from __future__ import annotations

import torch
from torch import nn

STAGES = ("lm", "align", "instruct")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROJECTOR = "model.multi_modal_projector."


def add_lora(model, r: int = 64, alpha: int = 16, dropout: float = 0.05,
             targets=LORA_TARGETS):
    """Wrap the LLaVA model's language model linears with LoRA; returns the PeftModel."""
    from peft import LoraConfig, get_peft_model

    pattern = r"^model\.language_model\..*\.(" + "|".join(targets) + r")$"
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=pattern,
                     bias="none")
    return get_peft_model(model, cfg)


def set_trainable(model, stage: str, unfreeze_lm: bool = False) -> list[str]:
    """Freeze everything but the stage's parameters; returns the trainable names.

    `model` is the plain LLaVA module (for `instruct`, after `add_lora`). `unfreeze_lm` also
    trains every LM weight in align/instruct: a from-scratch world LM, trained on text only,
    has no attention that reads image tokens, and a frozen one never learns to."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} is not one of {STAGES}")
    names = []
    for name, p in model.named_parameters():
        if stage == "lm":
            on = name.startswith(("model.language_model.", "lm_head."))
        elif stage == "align":
            on = name.startswith(PROJECTOR)
        else:
            on = name.startswith(PROJECTOR) or ".lora_" in name
        if unfreeze_lm and stage != "lm":
            on = on or name.startswith(("model.language_model.", "lm_head."))
        p.requires_grad_(on)
        if on:
            names.append(name)
    return names


def trainable_state(model) -> dict[str, torch.Tensor]:
    """The trainable tensors by name (what a checkpoint stores)."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, state: dict[str, torch.Tensor]) -> None:
    """Load a `trainable_state` back; every key must exist in `model`."""
    missing = set(state) - {n for n, _ in model.named_parameters()}
    if missing:
        raise KeyError(f"checkpoint tensors not in the model: {sorted(missing)[:3]}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


@torch.no_grad()
def vision_features(model, pixel_values: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The frozen tower's selected features [N, patches, vision hidden] (CLS dropped), on CPU."""
    cfg = model.config
    tower = model.model.vision_tower
    device = next(tower.parameters()).device
    out = []
    for i in range(0, len(pixel_values), batch_size):
        px = pixel_values[i:i + batch_size].to(device, next(tower.parameters()).dtype)
        hs = tower(px, output_hidden_states=True).hidden_states[cfg.vision_feature_layer]
        if cfg.vision_feature_select_strategy == "default":
            hs = hs[:, 1:]
        out.append(hs.float().cpu())
    return torch.cat(out) if out else torch.empty(0)


class VdgForward(nn.Module):
    """Loss of the LLaVA model on (input_ids, labels) with image slots filled from features."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.image_token_id = int(model.config.image_token_id)

    def embed(self, input_ids, image_features=None):
        """Token embeddings with every image slot holding its projected image feature."""
        embeds = self.model.get_input_embeddings()(input_ids)
        if image_features is not None and image_features.numel():
            proj = self.model.model.multi_modal_projector(image_features.to(embeds.dtype))
            mask = (input_ids == self.image_token_id).unsqueeze(-1)
            embeds = embeds.masked_scatter(mask.to(embeds.device), proj.reshape(-1, proj.shape[-1]))
        return embeds

    def forward(self, input_ids, attention_mask, labels, image_features=None):
        return self.model(inputs_embeds=self.embed(input_ids, image_features),
                          attention_mask=attention_mask, labels=labels).loss

    def logits(self, input_ids, attention_mask, image_features=None):
        return self.model(inputs_embeds=self.embed(input_ids, image_features),
                          attention_mask=attention_mask).logits
