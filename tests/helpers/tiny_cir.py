"""An untrained tiny CIR model (the combiner over tiny-clip) saved for a test, and a tiny index
over it: for tests that need a retriever but not a trained one (eval, index, serve, generate's
filter)."""

from __future__ import annotations

from pathlib import Path

from vdgray.bench.embed import synthetic_pngs
from vdgray.models.cir import build_cir
from vdgray.stages.index import write_index


def save_tiny_cir(path: str | Path):
    """Build the untrained tiny combiner, save it at `path` and return it (in eval mode)."""
    model = build_cir("combiner", "tiny-clip").eval()
    model.save(path)
    return model


def tiny_cir_index(root: Path, n: int, seed: int) -> dict:
    """An untrained tiny CIR model, a folder gallery of `n` PNGs and their index under `root`
    (model/, gallery/, index/)."""
    model = save_tiny_cir(root / "model")
    pngs = synthetic_pngs(n, seed=seed)
    names = [f"img{i:02d}" for i in range(n)]
    (root / "gallery").mkdir()
    for name, png in zip(names, pngs, strict=True):
        (root / "gallery" / f"{name}.png").write_bytes(png)
    vectors = model.encode_targets(model.preprocess(pngs)).numpy()
    write_index(str(root / "index"), names, vectors, model=str(root / "model"),
                source={"gallery": str(root / "gallery")})
    return {"root": root, "model": model, "names": names, "pngs": pngs, "vectors": vectors}
