"""What a killed `vdgray generate` committed, and how its re-run skips exactly that.

Commits are Ray Data's: with `DataContext.checkpoint_config` set, its Parquet sink writes a
pending id file, the data file, then the committed id file (`_checkpoint/`). The skipping is
ours. Ray's own way is a `CheckpointFilter` operator after the read, and in Ray 2.60 that
operator gets the read's block-split factor too (the planner maps both to the logical Read),
so on resume every block of `block_rows` pairs was split again, to about 10 pairs. The
generator then ran a short batch per block: 29 pairs/s instead of 53 (6,000 pairs in one
shard, 2 CPUs), and the resume took longer than the full run. Ray's filter actor also holds
a CPU that a first run does not, so a plan that fit could hang on its re-run.

So the driver reads the committed ids once (sorted, into the object store, as Ray's filter
does) and the pairs read drops them (`drop_committed`), before blocks are cut. Ray keeps the
part that must run before anything else: deleting the data files of pending writes
(`PendingCleanupManager`, a `checkpoint_manager_cls` that reports no checkpoint to filter).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vdgray import storage
from vdgray.layout import TRIPLET_ID

ID_COLUMN = TRIPLET_ID  # the checkpoint's id column


def _pending_suffix() -> str:
    from ray.data.checkpoint.checkpoint_writer import PENDING_CHECKPOINT_SUFFIX

    return f"{PENDING_CHECKPOINT_SUFFIX}.parquet"


def committed_files(checkpoint_uri: str) -> list[str]:
    """Committed checkpoint files (each one data shard a killed run keeps)."""
    pending = _pending_suffix()
    return [f for f in storage.list_files(checkpoint_uri, suffix=".parquet")
            if not f.endswith(pending)]


def finish_half_commits(checkpoint_uri: str) -> int:
    """Delete each pending checkpoint whose committed twin exists; returns how many.

    Ray commits a shard by moving its pending checkpoint to the committed name. On S3 a move
    is a copy and then a delete, so a job killed between the two leaves both. The committed
    copy means the shard's data file was written in full, but Ray's clean-up on resume sees
    the pending one and deletes that data file, while the committed ids still skip its pairs:
    they would be lost. Finishing the commit as Ray's own retry does (committed exists:
    delete the pending) keeps them."""
    pending = _pending_suffix()
    files = storage.list_files(checkpoint_uri, suffix=".parquet")
    committed = {f.removesuffix(".parquet") for f in files if not f.endswith(pending)}
    half = [f for f in files if f.endswith(pending) and f.removesuffix(pending) in committed]
    for f in half:
        fs, path = storage.filesystem(f)
        fs.delete_file(path)
    return len(half)


def uncovered(names: list[str], prefixes: list[str]) -> list[str]:
    """The `names` (in order) that no string of `prefixes` is a prefix of; O((n + m) log m).

    Sorted, the strings that start with a given prefix form one run that begins at that
    prefix, so after dropping every prefix that a shorter kept one already covers, the only
    candidate for a name is the last kept prefix sorted at or before it (bisect)."""
    import bisect

    kept: list[str] = []
    for p in sorted(set(prefixes)):
        if not (kept and p.startswith(kept[-1])):
            kept.append(p)
    out = []
    for name in names:
        at = bisect.bisect_right(kept, name) - 1
        if at < 0 or not name.startswith(kept[at]):
            out.append(name)
    return out


def remove_uncommitted(output: str, data_files: list[str], checkpoint_uri: str) -> list[str]:
    """Delete the data files under `output` that no committed checkpoint covers; returns
    `data_files` without them.

    Ray names a shard's checkpoint after the shard's base filename, so a data file is
    committed when a committed checkpoint's name is a prefix of its own basename (the rule
    Ray's pending clean-up applies with its prefix trie). Once a run has finished, every
    shard it wrote is committed; a file that is not was written by a writer that never
    committed: a killed job's Ray worker that outlived its driver and wrote after the resumed
    run's clean-up. Its pairs were not skipped, so this run wrote them again; keeping it would
    write them twice. The match is `uncovered` (sort and bisect): the comparison of every file
    with every checkpoint was 10^8 string checks at 10,000 shards."""
    committed = [f.rsplit("/", 1)[-1].removesuffix(".parquet")
                 for f in committed_files(checkpoint_uri)]
    names = [f.rsplit("/", 1)[-1] for f in data_files]
    orphan_names = set(uncovered(names, committed))
    orphans = [f for f, name in zip(data_files, names, strict=True) if name in orphan_names]
    if orphans:
        fs, root = storage.filesystem(output)
        for f in orphans:
            fs.delete_file(f"{root.rstrip('/')}/{f}")
    gone = set(orphans)
    return [f for f in data_files if f not in gone]


def committed_ids(checkpoint_uri: str, threads: int = 16) -> np.ndarray:
    """Sorted committed triplet ids as a bytes array (16 bytes an id; empty when none).
    Files are fetched on `threads` threads: a long run leaves thousands of them on S3."""
    from concurrent.futures import ThreadPoolExecutor

    files = committed_files(checkpoint_uri)
    if not files:
        return np.array([], dtype="S1")
    with ThreadPoolExecutor(max_workers=min(threads, len(files))) as pool:
        parts = list(pool.map(lambda f: storage.read_parquet(f, columns=[ID_COLUMN]), files))
    ids = pa.concat_tables(parts).column(0).to_pylist()
    return np.sort(np.array(ids, dtype="S"))


def drop_committed(table: pa.Table, committed: np.ndarray | None) -> pa.Table:
    """`table` without the rows whose triplet id is in the sorted `committed` array."""
    if committed is None or committed.size == 0 or table.num_rows == 0:
        return table
    ids = np.array(table.column(ID_COLUMN).to_pylist(), dtype="S")
    at = np.searchsorted(committed, ids)
    inside = at < committed.size
    hit = np.zeros(ids.size, dtype=bool)
    hit[inside] = committed[at[inside]] == ids[inside]
    return table.filter(pa.array(~hit))


def checkpoint_config(checkpoint_uri: str, filesystem):
    """Ray Data's job-level checkpointing of generate's sink, skipping left to the read."""
    from ray.data.checkpoint import CheckpointConfig

    return CheckpointConfig(id_column=ID_COLUMN, checkpoint_path=checkpoint_uri,
                            override_filesystem=filesystem, delete_checkpoint_on_success=False,
                            checkpoint_manager_cls=_manager_cls())


def _manager_cls():
    from ray.data.checkpoint.checkpoint_filter import IdColumnCheckpointManager

    class PendingCleanupManager(IdColumnCheckpointManager):
        """Ray's clean-up of uncommitted writes, then "nothing to filter": Ray's documented
        way (`load_checkpoint` -> (None, 0)) to leave the filter operator out of the plan.
        `_clean_pending_checkpoints` is the step Ray's own `load_checkpoint` runs first; it
        is called by name because Ray has no public call for it alone (Ray is pinned)."""

        def load_checkpoint(self, data_file_dir=None, data_file_filesystem=None):
            self._clean_pending_checkpoints(data_file_dir, data_file_filesystem)
            return None, 0

    return PendingCleanupManager
