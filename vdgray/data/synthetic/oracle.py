"""Oracle pseudo triplets: the world's true delta for each (reference, target) pair.

A VDG writes a delta for every mined pair; its triplets are only as good as those texts. The
synthetic world knows every image's scene, so the same pairs can also get the *true* delta,
written by the world's own language (`delta_text`). Training on those is what a perfect VDG
would give: the ceiling `vdgray cir-claim` measures the VDG against ("oracle"), and what
`experiments/claim_regime.py` sweeps to choose a regime where pseudo triplets can matter.

Pairs whose scenes hold a different number of objects have no attribute-level delta in the
world's language; they are dropped and counted, never given an invented text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vdgray import manifest, storage
from vdgray.data.synthetic.attributes import Scene, diff_scenes
from vdgray.data.synthetic.language import delta_text
from vdgray.data.triplets import PSEUDO, make_triplets
from vdgray.errors import DataFormatError
from vdgray.layout import TRIPLETS_STAGE, TRUTH, TRUTH_IMAGES, TRUTH_STAGE, truth_file, world_part

ORACLE_GENERATOR = "oracle"
ORACLE_FILE = "part-00000.parquet"


@dataclass
class OracleTexts:
    """The true delta of every pair that has one, and how many pairs had none."""

    reference_ids: list[str]
    target_ids: list[str]
    texts: list[str]
    n_changes: list[int]
    dropped_object_count: int  # pairs whose scenes differ in their number of objects
    dropped_identical: int  # pairs whose scenes are equal (nothing to say)


def has_truth(world: str) -> bool:
    """Whether `world` is a synthetic world with a finished truth/ part."""
    return manifest.is_complete(world_part(world, TRUTH), TRUTH_STAGE)


def world_scenes(world: str) -> dict[str, Scene]:
    """image_id -> scene, for every image of the world (gallery and CIRR splits)."""
    manifest.read_manifest(world_part(world, TRUTH), TRUTH_STAGE)
    t = storage.read_parquet(truth_file(world, TRUTH_IMAGES))
    return {i: Scene.from_json(a) for i, a in zip(t.column("image_id").to_pylist(),
                                                  t.column("attributes").to_pylist(),
                                                  strict=True)}


def true_deltas(scenes: dict[str, Scene], reference_ids: Sequence[str],
                target_ids: Sequence[str], seed: int = 0) -> OracleTexts:
    """The world's delta text for each pair (phrasings drawn from a generator per pair, so a
    pair's text does not depend on which other pairs are asked for)."""
    refs, tgts, texts, sizes = [], [], [], []
    dropped_count = dropped_same = 0
    for r, t in zip(reference_ids, target_ids, strict=True):
        try:
            a, b = scenes[r], scenes[t]
        except KeyError as e:
            raise DataFormatError(f"oracle: image {e.args[0]!r} is not in the world's truth "
                                  f"({TRUTH}/{TRUTH_IMAGES})") from None
        if len(a.objects) != len(b.objects):
            dropped_count += 1
            continue
        changes = diff_scenes(a, b)
        if not changes:
            dropped_same += 1
            continue
        rng = np.random.default_rng([seed, *_key(r), *_key(t)])
        refs.append(r)
        tgts.append(t)
        texts.append(delta_text(changes, a, rng))
        sizes.append(len(changes))
    return OracleTexts(refs, tgts, texts, sizes, dropped_count, dropped_same)


def _key(image_id: str) -> list[int]:
    return list(image_id.encode("utf-8"))


def oracle_table(world: str, pairs: pa.Table, seed: int = 0) -> tuple[pa.Table, OracleTexts]:
    """Oracle triplets (the triplets contract, generator "oracle") for the pairs of `pairs`
    (any table with reference_id and target_id: mined pairs or a VDG's triplets)."""
    for col in ("reference_id", "target_id"):
        if col not in pairs.column_names:
            raise DataFormatError(f"oracle: the pairs table has no {col!r} column "
                                  f"(columns: {pairs.column_names})")
    res = true_deltas(world_scenes(world), pairs.column("reference_id").to_pylist(),
                      pairs.column("target_id").to_pylist(), seed)
    return make_triplets(res.reference_ids, res.target_ids, res.texts, PSEUDO,
                         ORACLE_GENERATOR), res


def write_oracle_triplets(world: str, pairs: pa.Table, out: str, seed: int = 0,
                          inputs: dict | None = None) -> dict:
    """Write oracle triplets for `pairs` to `out` (one shard + a triplets manifest, last);
    returns the counts."""
    t0 = time.time()
    table, res = oracle_table(world, pairs, seed)
    storage.ensure_bucket(out)
    storage.write_parquet(storage.join(out, ORACLE_FILE), table)
    counts = {"triplets": table.num_rows, "pairs": pairs.num_rows,
              "removed_object_count": res.dropped_object_count,
              "removed_identical": res.dropped_identical,
              "one_change": sum(n == 1 for n in res.n_changes),
              "two_changes": sum(n == 2 for n in res.n_changes),
              "more_changes": sum(n > 2 for n in res.n_changes)}
    manifest.write_manifest(out, stage=TRIPLETS_STAGE, config={"seed": seed},
                            inputs={"world": world, **(inputs or {})}, counts=counts,
                            files=[ORACLE_FILE], wall_time_s=time.time() - t0,
                            extra={"generator": ORACLE_GENERATOR})
    return counts
