"""Pairs in, pairs-with-images out, without collecting the gallery on the driver.

Two pieces of `vdgray generate`'s Ray Data pipeline:

- `PairsDatasource` reads the `pairs` contract (one read task per Parquet row group) and adds
  the deterministic `triplet_id` in the read task itself, where a resumed run also drops the
  ids a killed run committed (`committed`): so the id exists before anything else
  sees the row, and it reaches the sink unchanged, as Ray Data's checkpointing needs.
- `ImageJoiner` is a keyed lookup instead of a join: each actor indexes the
  gallery's `image_id` column (ids only, no image bytes) once, then fetches the row groups a
  batch needs, keeping a bounded LRU of them; a folder gallery maps ids to files (named as
  every stage names them, `data.gallery.image_id_for`) and reads the files a batch needs. A
  pair whose image is missing or cannot be decoded leaves the stream and is recorded as a
  failure side file, never fatal.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vdgray import storage
from vdgray.data.triplets import triplet_id
from vdgray.errors import DataFormatError, StorageError
from vdgray.layout import PAIR_COLUMNS
from vdgray.stages.generate.committed import ID_COLUMN, drop_committed

FAILURE_SCHEMA = pa.schema([("pair_id", pa.string()), ("reference_id", pa.string()),
                            ("target_id", pa.string()), ("reason", pa.string())])


def with_triplet_ids(table: pa.Table, generator: str) -> pa.Table:
    """The pairs columns plus `triplet_id` (first column) for `generator`."""
    refs = table.column("reference_id").to_pylist()
    tgts = table.column("target_id").to_pylist()
    ids = [triplet_id(r, t, generator) for r, t in zip(refs, tgts, strict=True)]
    cols = {ID_COLUMN: pa.array(ids, pa.string())}  # the checkpoint's id column
    for c in PAIR_COLUMNS:
        cols[c] = table.column(c).cast(pa.string())
    return pa.table(cols)


class PairsUnit(NamedTuple):
    """One read task: a row group of a pairs shard, and how many of its first rows to read."""

    uri: str
    row_group: int
    rows: int


def plan_units(files: list[str], max_pairs: int | None) -> list[PairsUnit]:
    """Read units (one per row group) over the pairs shards, honouring a global `max_pairs`
    cap in file order (from Parquet footers; nothing is read). A row group, not a shard, is
    the unit so that a read task holds a bounded number of pairs however large the shard."""
    units, left = [], max_pairs
    for f in files:
        pf = storage.open_parquet(f)
        missing = [c for c in PAIR_COLUMNS if c not in pf.schema_arrow.names]
        if missing:
            raise DataFormatError(f"{f}: pairs column {missing[0]!r} missing "
                                  f"(has {pf.schema_arrow.names})")
        for rg in range(pf.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            if left is not None:
                n = min(n, left)
                left -= n
            if n > 0:
                units.append(PairsUnit(f, rg, n))
            if left == 0:
                return units
    return units


def read_pairs_unit(unit: PairsUnit, generator: str, block_rows: int,
                    committed: np.ndarray | None = None):
    """Stream one unit as blocks of up to `block_rows` pairs with triplet ids, without the
    ids in the sorted `committed` array (what a killed run already wrote)."""
    pf = storage.open_parquet(unit.uri)
    done = 0
    for batch in pf.iter_batches(batch_size=block_rows, row_groups=[unit.row_group],
                                 columns=list(PAIR_COLUMNS)):
        if done >= unit.rows:
            break
        table = pa.Table.from_batches([batch]).slice(0, unit.rows - done)
        done += table.num_rows
        table = drop_committed(with_triplet_ids(table, generator), committed)
        if table.num_rows:
            yield table


def _datasource_cls():
    import ray
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class PairsDatasource(Datasource):
        """The pairs contract as a Ray Data read, one streaming read task per row group."""

        def __init__(self, units: list[PairsUnit], generator: str, block_rows: int,
                     committed_ref=None):
            super().__init__()
            self.units, self.generator, self.block_rows = units, generator, block_rows
            self.committed_ref = committed_ref

        def estimate_inmemory_data_size(self):
            return sum(u.rows for u in self.units) * 96

        def _read(self, unit: PairsUnit):
            committed = ray.get(self.committed_ref) if self.committed_ref is not None else None
            yield from read_pairs_unit(unit, self.generator, self.block_rows, committed)

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            return [ReadTask(lambda u=u: self._read(u),
                             BlockMetadata(num_rows=u.rows, size_bytes=u.rows * 96,
                                           input_files=[u.uri], exec_stats=None),
                             per_task_row_limit=per_task_row_limit)
                    for u in self.units]

    return PairsDatasource


def read_pairs(units: list[PairsUnit], generator: str, block_rows: int,
               num_cpus: float = 0.25, committed: np.ndarray | None = None):
    """A Ray Dataset of (triplet_id, pair_id, reference_id, target_id) over `units`, in
    blocks of about `block_rows`, without the `committed` triplet ids.

    Why the block count is given: Ray Data merges a read task's output into one block (up to
    128 MiB, about a million pairs), so one large shard from `vdgray mine` went through the
    whole pipeline as one block: images joined, deltas generated and nothing committed until
    the end of the run. Asking for more blocks than there are read tasks makes Ray Data split
    each task's output inside the task (no extra operator), so blocks of `block_rows` flow
    and are committed through the run. The count is of the pairs left to do, so a resumed
    run's blocks are full too."""
    import math

    import ray
    import ray.data

    ref = None
    if committed is not None and committed.size:
        ref = ray.put(committed)
    left = max(1, sum(u.rows for u in units) - (0 if committed is None else committed.size))
    blocks = math.ceil(left / block_rows)
    return ray.data.read_datasource(_datasource_cls()(units, generator, block_rows, ref),
                                    override_num_blocks=max(1, len(units), blocks),
                                    num_cpus=num_cpus)


class GalleryIndex:
    """image_id -> (file index, row group, row in group) over gallery Parquet shards, plus a
    bounded LRU of fetched `image` row groups. Only the id column is read to build it."""

    def __init__(self, files: list[str], cache_bytes: int = 256 << 20):
        self.files = list(files)
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[tuple[int, int], pa.Array] = OrderedDict()
        self._cached = 0
        self.where: dict[str, tuple[int, int, int]] = {}
        for fi, f in enumerate(self.files):
            pf = storage.open_parquet(f)
            if "image_id" not in pf.schema_arrow.names or "image" not in pf.schema_arrow.names:
                raise DataFormatError(f"{f}: gallery needs columns image_id and image "
                                      f"(has {pf.schema_arrow.names})")
            for rg in range(pf.num_row_groups):
                ids = pf.read_row_group(rg, columns=["image_id"]).column(0).to_pylist()
                for row, image_id in enumerate(ids):
                    self.where.setdefault(str(image_id), (fi, rg, row))

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.where

    def _group(self, fi: int, rg: int) -> pa.Array:
        key = (fi, rg)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        col = storage.open_parquet(self.files[fi]).read_row_group(rg, columns=["image"]).column(0)
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        self._cache[key] = col
        self._cached += col.nbytes
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.nbytes
        return col

    def fetch(self, image_ids: list[str]) -> list[bytes | None]:
        """Image bytes per id (None when the id is absent or its bytes are null), reading
        each needed row group once per call."""
        out: list[bytes | None] = [None] * len(image_ids)
        by_group: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i, image_id in enumerate(image_ids):
            loc = self.where.get(image_id)
            if loc is not None:
                by_group.setdefault(loc[:2], []).append((i, loc[2]))
        for (fi, rg), wanted in by_group.items():
            col = self._group(fi, rg)
            for i, row in wanted:
                out[i] = col[row].as_py()
        return out


class FolderImages:
    """A folder gallery's images by id, through the server's `ImageStore` (image_id -> file,
    read when asked); `fetch` gives None for an id not there or a file gone since."""

    def __init__(self, root: str, files: list[str]):
        from vdgray.data.gallery import image_id_for
        from vdgray.retrieval.image_store import ImageStore

        self.store = ImageStore(files={image_id_for(root, f): f for f in files})

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.store

    def fetch(self, image_ids: list[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for image_id in image_ids:
            try:
                out.append(self.store.get(image_id))
            except (KeyError, StorageError):  # not in the folder, or removed since the listing
                out.append(None)
        return out


def unreadable_reason(data: bytes | None) -> str | None:
    """Why image bytes cannot be used ("not in the gallery", "cannot be decoded: ..."), or
    None. PIL's `verify` reads the file's structure without decoding every pixel."""
    import io

    from PIL import Image

    if data is None:
        return "not in the gallery"
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except Exception as e:  # PIL raises many types for corrupt input
        return f"cannot be decoded ({type(e).__name__}: {e})"
    return None


class ImageJoiner:
    """map_batches callable: pairs rows -> the same rows plus reference_image/target_image.

    Rows whose reference or target is not in the gallery, has no bytes or cannot be decoded
    are dropped and, when `failures_uri` is set, written there as one small Parquet file per
    batch. `folder_root` set: `gallery_files` are the image files of a folder gallery.
    """

    def __init__(self, gallery_files: list[str], failures_uri: str | None = None,
                 cache_bytes: int = 256 << 20, folder_root: str | None = None):
        self.index = (FolderImages(folder_root, gallery_files) if folder_root is not None
                      else GalleryIndex(gallery_files, cache_bytes))
        self.failures_uri = failures_uri
        # Resolved on the driver and pickled, so workers use the same endpoint/credentials.
        self._fs = storage.filesystem(failures_uri) if failures_uri else None
        self.failures: list[dict] = []

    def __call__(self, batch: dict) -> dict:
        refs = [str(x) for x in batch["reference_id"]]
        tgts = [str(x) for x in batch["target_id"]]
        ref_img, tgt_img = self.index.fetch(refs), self.index.fetch(tgts)
        keep, failed = [], []
        for i, (r, t) in enumerate(zip(ref_img, tgt_img, strict=True)):
            why = [(name, iid, unreadable_reason(img)) for name, iid, img
                   in (("reference", refs[i], r), ("target", tgts[i], t))]
            why = [(name, iid, reason) for name, iid, reason in why if reason]
            if not why:
                keep.append(i)
                continue
            reason = "; ".join(f"{name} image {iid!r} {r}" for name, iid, r in why)
            failed.append({"pair_id": str(batch["pair_id"][i]), "reference_id": refs[i],
                           "target_id": tgts[i], "reason": reason})
        if failed:
            self.failures.extend(failed)
            if self._fs is not None:
                self._write_failures(failed)
        idx = np.asarray(keep, dtype=np.int64)
        out = {k: np.asarray(v)[idx] for k, v in batch.items()}
        out["reference_image"] = objects([ref_img[i] for i in keep])
        out["target_image"] = objects([tgt_img[i] for i in keep])
        return out

    def _write_failures(self, failed: list[dict]) -> None:
        write_side_records(self._fs, self.failures_uri, failed, FAILURE_SCHEMA)


def objects(values: list) -> np.ndarray:
    """A 1-D object array of `values` (numpy would otherwise try to stack equal-length bytes)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def write_side_records(fs_path: tuple, uri: str, rows: list[dict], schema: pa.Schema) -> None:
    """One small uniquely named Parquet file of `rows` under `uri` (retries may duplicate
    records; readers deduplicate)."""
    fs, path = fs_path
    try:
        fs.create_dir(path, recursive=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema),
                       f"{path}/{uuid.uuid4().hex}.parquet", filesystem=fs)
    except Exception as e:
        raise StorageError(f"{uri}: cannot write side records ({e})") from None


def read_side_records(uri: str, key: str) -> list[dict]:
    """Side records under `uri`, one per distinct `key`, sorted by it ([] when none)."""
    files = storage.list_files(uri, suffix=".parquet")
    if not files:
        return []
    seen: dict[str, dict] = {}
    for row in storage.read_parquet(files).to_pylist():
        seen.setdefault(row[key], row)
    return [seen[k] for k in sorted(seen)]
