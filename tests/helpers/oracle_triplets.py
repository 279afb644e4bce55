"""Oracle pseudo triplets from a synthetic world's truth.

Pseudo triplets normally come from the VDG (the generate stage). For tests and for an upper
bound on what VDG triplets can give, these are made from the world's truth instead: pairs
inside each aux family (a base scene and its perturbations) with the TRUE delta text written
by the world's own language model — "oracle" pseudo triplets in the triplets contract.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc

from vdgray import manifest, storage
from vdgray.data.synthetic.attributes import Scene, diff_scenes
from vdgray.data.synthetic.language import delta_text
from vdgray.data.triplets import PSEUDO, make_triplets


def oracle_pseudo_triplets(world: str, out: str, max_changes: int = 2, seed: int = 0,
                           limit: int | None = None) -> int:
    """Write oracle pseudo triplets of `world`'s aux gallery to `out`; returns the count."""
    family_size = manifest.read_manifest(world, "synth")["config"]["aux_family_size"]
    t = storage.read_parquet(storage.join(world, "truth", "images.parquet"))
    t = t.filter(pc.equal(t.column("split"), "aux"))
    ids = t.column("image_id").to_pylist()
    scenes = [Scene.from_json(a) for a in t.column("attributes").to_pylist()]
    families: dict[int, list[int]] = {}
    for k, image_id in enumerate(ids):
        families.setdefault(int(image_id.rsplit("-", 1)[-1]) // family_size, []).append(k)
    rng = np.random.default_rng(seed)
    refs, tgts, texts = [], [], []
    for members in families.values():
        for a in members:
            for b in members:
                if a == b or len(scenes[a].objects) != len(scenes[b].objects):
                    continue
                changes = diff_scenes(scenes[a], scenes[b])
                if 1 <= len(changes) <= max_changes:
                    refs.append(ids[a])
                    tgts.append(ids[b])
                    texts.append(delta_text(changes, scenes[a], rng))
    if limit is not None:
        keep = np.sort(rng.permutation(len(refs))[:limit])
        refs, tgts, texts = ([x[i] for i in keep] for x in (refs, tgts, texts))
    table = make_triplets(refs, tgts, texts, PSEUDO, "oracle")
    storage.write_parquet(storage.join(out, "part-00000.parquet"), table)
    manifest.write_manifest(out, stage="triplets", inputs={"world": world},
                            counts={"triplets": table.num_rows}, files=["part-00000.parquet"],
                            extra={"generator": "oracle", "note": json.dumps("world truth")})
    return table.num_rows
