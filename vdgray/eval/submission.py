"""Writers for the CIRR test-server submission files (test1 has no public targets).

The server takes two JSON files: {"version": "rc2", "metric": "recall", "<pairid>": [50
names]} and the same with "metric": "recall_subset" and 3 names per query (ranked among the
query's img_set members minus the reference). Lengths and duplicates are checked here so a
bad file fails locally with the offending pairid, not on the server.
"""

from __future__ import annotations

from collections.abc import Sequence

from vdgray import storage
from vdgray.data.cirr import VERSION
from vdgray.errors import DataFormatError

RECALL_K = 50
SUBSET_K = 3


def _payload(metric: str, pairids: Sequence[int], lists: Sequence[Sequence[str]], k: int,
             allow_short: bool) -> dict:
    if len(lists) != len(pairids):
        raise DataFormatError(f"{metric} submission: {len(lists)} rankings for "
                              f"{len(pairids)} pairids")
    out: dict = {"version": VERSION, "metric": metric}
    for pid, names in zip(pairids, lists, strict=True):
        key = str(int(pid))
        if key in out:
            raise DataFormatError(f"{metric} submission: pairid {key} appears twice")
        names = list(names)
        if len(names) > k or (len(names) < k and not allow_short):
            raise DataFormatError(f"{metric} submission: pairid {key} has {len(names)} names, "
                                  f"expected exactly {k}")
        if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise DataFormatError(f"{metric} submission: pairid {key} must list {k} distinct "
                                  "image names")
        out[key] = names
    return out


def write_cirr_submission(uri_prefix: str, pairids: Sequence[int],
                          top50_names: Sequence[Sequence[str]],
                          subset_top3_names: Sequence[Sequence[str]], name: str = "",
                          allow_short: bool = False) -> tuple[str, str]:
    """Write recall_submission{_name}.json and recall_subset_submission{_name}.json.

    Returns the two URIs. `allow_short` accepts shorter lists, for galleries smaller than
    51 images (the synthetic world); the official server expects exactly 50 and 3.
    """
    suffix = f"_{name}" if name else ""
    recall = _payload("recall", pairids, top50_names, RECALL_K, allow_short)
    subset = _payload("recall_subset", pairids, subset_top3_names, SUBSET_K, allow_short)
    uris = (storage.join(uri_prefix, f"recall_submission{suffix}.json"),
            storage.join(uri_prefix, f"recall_subset_submission{suffix}.json"))
    storage.write_json(uris[0], recall)
    storage.write_json(uris[1], subset)
    return uris
