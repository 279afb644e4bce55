"""`vdgray bench generate --commits N`: the end-of-run commit check, before and after.

At the end of `vdgray generate`, `remove_uncommitted` keeps a data file only when a committed
checkpoint's name is a prefix of its own. It used to compare every file with every
checkpoint (`quadratic`, kept here as the reference: 10^8 string checks at 10,000 shards);
it now sorts and bisects (`committed.uncovered`). Both run on the same N Ray-style names.
"""

from __future__ import annotations

import time
import uuid


def quadratic(names: list[str], prefixes: list[str]) -> list[str]:
    """The old rule, word for word: names that no prefix starts."""
    return [f for f in names if not any(f.startswith(c) for c in prefixes)]


def ray_style_names(n: int, orphans: int = 10) -> tuple[list[str], list[str]]:
    """(data file names, committed checkpoint names) as Ray Data's Parquet sink writes them
    (`{dataset_uuid}_{write_uuid}_{task:06}_{block:06}.parquet`, checkpoint = the name up to
    the task), with `orphans` files that no checkpoint covers."""
    ds, w = uuid.uuid4().hex, uuid.uuid4().hex
    prefixes = [f"{ds}_{w}_{i:06}" for i in range(n)]
    names = [f"{p}_000000.parquet" for p in prefixes]
    names += [f"{ds}_{uuid.uuid4().hex}_{i:06}_000000.parquet" for i in range(orphans)]
    return names, prefixes


def run_commits(n: int, repeat: int = 3) -> list[dict]:
    """Best-of-`repeat` seconds of each rule on n committed shards (+10 orphans); same answer."""
    from vdgray.stages.generate.committed import uncovered

    names, prefixes = ray_style_names(n)
    rows, answers = [], {}
    for label, fn in (("before: every file x every checkpoint", quadratic),
                      ("now: sort and bisect", uncovered)):
        best = float("inf")
        for _ in range(repeat if label.startswith("now") else 1):
            t0 = time.perf_counter()
            answers[label] = fn(names, prefixes)
            best = min(best, time.perf_counter() - t0)
        rows.append({"rule": label, "shards": n, "files": len(names),
                     "uncommitted": len(answers[label]), "seconds": round(best, 4)})
    first, second = answers.values()
    if first != second:
        raise RuntimeError("remove_uncommitted: the two rules disagree")
    return rows
