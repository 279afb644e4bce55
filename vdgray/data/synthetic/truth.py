"""Reading a synthetic world's ground truth (truth/, written by cirr_writer.py).

A world knows the target of every query, test1's included, where CIRR keeps those hidden:
offline evaluation and the demo's serve check both score test1 with them.
"""

from __future__ import annotations

import pyarrow.compute as pc

from vdgray import manifest, storage
from vdgray.errors import DataFormatError
from vdgray.layout import TRUTH, TRUTH_QUERIES, TRUTH_STAGE, truth_file, world_part


def world_test1_targets(root: str, queries) -> list[str]:
    """test1 targets of a synthetic world, from truth/queries.parquet."""
    manifest.read_manifest(world_part(root, TRUTH), TRUTH_STAGE)
    t = storage.read_parquet(truth_file(root, TRUTH_QUERIES))
    t = t.filter(pc.equal(t.column("split"), "test1"))
    by_pair = dict(zip(t.column("pairid").to_pylist(), t.column("target").to_pylist(),
                       strict=True))
    try:
        return [by_pair[q.pairid] for q in queries]
    except KeyError as e:
        raise DataFormatError(f"{root}/truth: no test1 truth for pairid {e.args[0]}") from None
