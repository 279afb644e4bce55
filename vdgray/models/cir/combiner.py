"""CLIP + Combiner (CLIP4Cir, Baldrati et al.): fuse reference-image and text features.

The Combiner projects the (normalised) CLIP image and text features, mixes them through an
MLP, and adds a learned convex combination of the two inputs (a sigmoid "dynamic scalar"),
then normalises; targets are the normalised CLIP image features. How much of CLIP trains is
`train_backbone`: "none" is CLIP4Cir's stage 2 (CLIP frozen, only the Combiner learns; the
gallery embeddings are then plain CLIP image embeddings), "text" also fine-tunes the text
tower (the world CLIP learned captions, not modification texts, so this is the demo's
default), "all" fine-tunes both towers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vdgray.models.cir.base import CirModel
from vdgray.models.encoders import Encoder

TRAIN_BACKBONE = ("none", "text", "all")


class Combiner(nn.Module):
    """The CLIP4Cir Combiner network (dropout 0.5 as published)."""

    def __init__(self, feature_dim: int, projection_dim: int, hidden_dim: int,
                 dropout: float = 0.5):
        super().__init__()
        self.text_projection_layer = nn.Linear(feature_dim, projection_dim)
        self.image_projection_layer = nn.Linear(feature_dim, projection_dim)
        self.combiner_layer = nn.Linear(2 * projection_dim, hidden_dim)
        self.output_layer = nn.Linear(hidden_dim, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.dynamic_scalar = nn.Sequential(
            nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, 1), nn.Sigmoid(),
        )

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        text_proj = self.dropout(F.relu(self.text_projection_layer(text_features)))
        image_proj = self.dropout(F.relu(self.image_projection_layer(image_features)))
        raw = torch.cat([text_proj, image_proj], dim=-1)
        combined = self.dropout(F.relu(self.combiner_layer(raw)))
        lam = self.dynamic_scalar(raw)
        out = self.output_layer(combined) + lam * text_features + (1 - lam) * image_features
        return F.normalize(out, dim=-1)


class CombinerCIR(CirModel):
    """Dual-encoder backbone (CLIPModel, SiglipModel) + Combiner; settings: projection_dim, hidden_dim, train_backbone."""

    kind = "combiner"
    default_temperature = 0.01  # CLIP4Cir's logit scale of 100

    def __init__(self, encoder: Encoder, projection_dim: int | None = None,
                 hidden_dim: int | None = None, train_backbone: str = "text",
                 dropout: float = 0.5):
        if not encoder.dual:
            raise ValueError(f"the combiner needs a dual-encoder backbone (CLIP, SigLIP), got "
                             f"{encoder.kind} ({encoder.name})")
        if train_backbone not in TRAIN_BACKBONE:
            raise ValueError(f"train_backbone must be one of {TRAIN_BACKBONE}, got "
                             f"{train_backbone!r}")
        dim = encoder.dim
        projection_dim = projection_dim or 4 * dim
        hidden_dim = hidden_dim or 8 * dim
        super().__init__(encoder, {"projection_dim": projection_dim, "hidden_dim": hidden_dim,
                                   "train_backbone": train_backbone, "dropout": dropout})
        self.combiner = Combiner(dim, projection_dim, hidden_dim, dropout)
        backbone = self.backbone
        for p in backbone.parameters():
            p.requires_grad_(False)
        towers = {"none": (), "text": encoder.family.text_modules,
                  "all": encoder.family.text_modules + encoder.family.vision_modules}
        for name in towers[train_backbone]:
            for p in getattr(backbone, name).parameters():
                p.requires_grad_(True)
        self._train_vision = train_backbone == "all"
        self._train_text = train_backbone in ("text", "all")
        self.frozen_image_features = not self._train_vision

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(self._train_vision and torch.is_grad_enabled()):
            feats = self.backbone.get_image_features(pixel_values=pixels).pooler_output
        return F.normalize(feats, dim=-1)

    def _text(self, input_ids, attention_mask) -> torch.Tensor:
        with torch.set_grad_enabled(self._train_text and torch.is_grad_enabled()):
            feats = self.backbone.get_text_features(
                input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return F.normalize(feats, dim=-1)

    def query_from(self, ref_features, input_ids, attention_mask) -> torch.Tensor:
        return self.combiner(ref_features, self._text(input_ids, attention_mask))

    def target_from(self, features) -> torch.Tensor:
        return features

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {f"combiner.{k}": v for k, v in self.combiner.state_dict().items()}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        own = {k[len("combiner."):]: v for k, v in state.items() if k.startswith("combiner.")}
        self.combiner.load_state_dict(own)
