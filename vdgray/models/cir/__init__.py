"""CIR retriever models: CLIP + Combiner (`combiner`) and BLIP with TDM (`blip`).

`build_cir(kind, encoder, **settings)` makes a fresh model on a backbone (a registered name
such as "tiny-clip" / "tiny-blip", or a local / s3:// model directory); `load_cir(uri)`
restores a saved CIR model directory (see `base.CirModel.save`).
"""

from __future__ import annotations

import json
from pathlib import Path

from vdgray.errors import DataFormatError
from vdgray.models.cir.base import CIR_CONFIG, CirModel

KINDS = ("combiner", "blip")


def load_backbone(name_or_path: str):
    """A backbone `Encoder`: "tiny-blip", a registry name, or a local / s3:// model dir."""
    if name_or_path == "tiny-blip":
        from vdgray.models.cir.blip import tiny_blip

        return tiny_blip()
    from vdgray.models.registry import load_encoder

    return load_encoder(name_or_path)


def _model_class(kind: str):
    if kind == "combiner":
        from vdgray.models.cir.combiner import CombinerCIR

        return CombinerCIR
    if kind == "blip":
        from vdgray.models.cir.blip import BlipCIR

        return BlipCIR
    raise DataFormatError(f"unknown CIR model kind {kind!r} (expected one of {KINDS})")


def build_cir(kind: str, encoder: str, **settings) -> CirModel:
    """A fresh CIR model of `kind` on the backbone `encoder` (name or model URI)."""
    cls = _model_class(kind)
    return cls(load_backbone(encoder), **settings)


def is_cir_dir(path: str | Path) -> bool:
    return (Path(path) / CIR_CONFIG).is_file()


def load_cir(uri: str) -> CirModel:
    """Restore a saved CIR model directory (local or s3://, copied down once per node)."""
    from vdgray.models.checkpoint import local_model_dir
    from vdgray.models.encoders import load_dir

    path = local_model_dir(uri)
    cfg_file = Path(path) / CIR_CONFIG
    if not cfg_file.is_file():
        raise DataFormatError(f"{uri}: not a CIR model directory (no {CIR_CONFIG})")
    settings = json.loads(cfg_file.read_text())
    kind = settings.pop("kind", None)
    model = _model_class(kind)(load_dir(path, name=str(uri)), **settings)
    extra = Path(path) / f"{kind}.safetensors"
    if extra.is_file():
        from safetensors.torch import load_file

        model.load_extra_state(load_file(str(extra)))
    return model.eval()


__all__ = ["KINDS", "CirModel", "build_cir", "is_cir_dir", "load_backbone", "load_cir"]
