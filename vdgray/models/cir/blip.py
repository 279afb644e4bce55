"""BLIP for CIR: the image-grounded text encoder over (reference image, text) is the query.

`BlipForImageTextRetrieval` already has what the paper uses: the text encoder cross-attends
to the reference image's patch embeddings and its [CLS] output, through `text_proj`, is the
query; `vision_proj` of the target's [CLS] patch embedding is the target. The vision
encoder is frozen (targets need no gradient through it). Target-delta matching (TDM): the
same image-grounded encoder reads the delta text against the TARGET image; the mean of its
token outputs goes through the frozen 2-way ITM head; negatives are mined in the batch from
the query/target similarity (for each target the most similar other query's delta, for each
delta the most similar other target), and the loss is cross-entropy (`losses.tdm_loss`).
`tiny_blip()` builds a random tiny model with the registry's word tokenizer, for tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vdgray.models.cir.base import CirModel
from vdgray.models.encoders import Encoder, image_processor
from vdgray.models.losses import mine_hard_negatives


def tiny_blip(seed: int = 0) -> Encoder:
    """A random-initialised tiny BlipForImageTextRetrieval (same weights for the same seed)."""
    from transformers import BlipConfig, BlipForImageTextRetrieval

    from vdgray.models.registry import seeded_init, tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, encoder_hidden_size=32,
                         max_position_embeddings=40, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         sep_token_id=tok.eos_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8),
        image_text_hidden_size=32,
    )
    model = seeded_init(BlipForImageTextRetrieval, seed, cfg)
    return Encoder(model, tok, image_processor(32), "tiny-blip")


class BlipCIR(CirModel):
    """BLIP retrieval backbone as a CIR model; settings: tdm (bool), negatives (argmax|sample)."""

    kind = "blip"
    default_temperature = 0.07

    def __init__(self, encoder: Encoder, tdm: bool = True, negatives: str = "argmax"):
        if encoder.kind != "blip":
            raise ValueError(f"the blip model needs a BLIP backbone, got {encoder.kind} "
                             f"({encoder.name})")
        super().__init__(encoder, {"tdm": tdm, "negatives": negatives})
        self.tdm = tdm
        self.negatives = negatives
        for p in self.backbone.vision_model.parameters():
            p.requires_grad_(False)
        for p in self.backbone.itm_head.parameters():
            p.requires_grad_(False)

    frozen_image_features = True  # the vision model never trains here

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The vision model's patch embeddings (the text encoder cross-attends to them)."""
        with torch.no_grad():
            return self.backbone.vision_model(pixel_values=pixels).last_hidden_state

    def _grounded(self, input_ids, attention_mask, patches) -> torch.Tensor:
        img_mask = torch.ones(patches.shape[:-1], dtype=torch.long, device=patches.device)
        return self.backbone.text_encoder(
            input_ids=input_ids, attention_mask=attention_mask,
            encoder_hidden_states=patches, encoder_attention_mask=img_mask,
        ).last_hidden_state

    def query_from(self, ref_features, input_ids, attention_mask) -> torch.Tensor:
        hidden = self._grounded(input_ids, attention_mask, ref_features)
        return F.normalize(self.backbone.text_proj(hidden[:, 0, :]), dim=-1)

    def target_from(self, features) -> torch.Tensor:
        return F.normalize(self.backbone.vision_proj(features[:, 0, :]), dim=-1)

    def itm_logits(self, input_ids, attention_mask, patches) -> torch.Tensor:
        """Frozen ITM head on the mean token output of (image patches, text) -> [N, 2]."""
        hidden = self._grounded(input_ids, attention_mask, patches)
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        return self.backbone.itm_head(mean)

    def forward_features(self, ref_features, input_ids, attention_mask, target_features,
                         target_keys=None) -> dict[str, torch.Tensor]:
        query = self.query_from(ref_features, input_ids, attention_mask)
        t_patches = target_features
        target = self.target_from(t_patches)
        out = {"query": query, "target": target}
        if self.tdm and self.training and len(query) > 1:
            sim = query.detach() @ target.detach().T  # [query/delta i, target j]
            same = None
            if target_keys is not None:
                keys = target_keys.to(sim.device)
                same = keys[:, None] == keys[None, :]
            neg_t = mine_hard_negatives(sim, same, self.negatives)  # delta i with target neg_t[i]
            neg_d = mine_hard_negatives(sim.T, same, self.negatives)  # target j with delta neg_d[j]
            n = len(query)
            keep_t = neg_t != torch.arange(n, device=sim.device)
            keep_d = neg_d != torch.arange(n, device=sim.device)
            ids = torch.cat([input_ids, input_ids[keep_t], input_ids[neg_d[keep_d]]])
            mask = torch.cat([attention_mask, attention_mask[keep_t],
                              attention_mask[neg_d[keep_d]]])
            patches = torch.cat([t_patches, t_patches[neg_t[keep_t]], t_patches[keep_d]])
            logits = self.itm_logits(ids, mask, patches)
            out["tdm_pos"], out["tdm_neg"] = logits[:n], logits[n:]
        return out
