"""Pairs inside each aux family of a synthetic world, written as a `pairs` output.

A world's aux image i belongs to family i // aux_family_size (a base scene and its 1-2 change
perturbations), so these are the pairs a perfect miner would find. Tests use them in place of
`vdgray mine` (which needs an encoder and Ray Data) to give the oracle and the trainers pairs.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from vdgray import manifest, storage
from vdgray.data.synthetic.world import aux_image_id
from vdgray.layout import PAIRS_SCHEMA, PAIRS_STAGE, SYNTH_STAGE


def write_family_pairs(world: str, out: str) -> int:
    """Every ordered pair inside every aux family of `world` -> a pairs output at `out`."""
    cfg = manifest.read_manifest(world, SYNTH_STAGE)["config"]
    size, n = cfg["aux_family_size"], cfg["n_gallery"]
    refs, tgts, groups = [], [], []
    for f in range(0, n, size):
        members = [aux_image_id(i) for i in range(f, min(f + size, n))]
        for a in members:
            for b in members:
                if a != b:
                    refs.append(a)
                    tgts.append(b)
                    groups.append(f // size)
    ids = [hashlib.sha1(f"{a}\x1f{b}".encode()).hexdigest()[:16] for a, b in zip(refs, tgts, strict=True)]
    table = pa.table({"pair_id": ids, "reference_id": refs, "target_id": tgts,
                      "similarity": [1.0] * len(refs), "group_id": groups}, schema=PAIRS_SCHEMA)
    storage.write_parquet(storage.join(out, "part-00000.parquet"), table)
    manifest.write_manifest(out, stage=PAIRS_STAGE, counts={"pairs": len(refs)},
                            files=["part-00000.parquet"])
    return len(refs)
