"""Write the CIRR-format splits (JSON + PNGs) and the ground truth of the synthetic world.

The splits are small (hundreds to thousands of images), so they are planned and rendered on
the driver in a fixed order (deterministic given the seed) while a thread pool uploads the
PNGs. The truth table of images streams the auxiliary captions shard by shard into one
Parquet file, so it never holds the whole gallery either.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from vdgray import storage
from vdgray.data.synthetic.language import caption
from vdgray.data.synthetic.world import (
    SPLIT_DIRS,
    SplitPlan,
    cirr_record,
    render_named,
    split_index,
)
from vdgray.errors import StorageError
from vdgray.layout import CIRR_IMAGES_DIR, cirr_captions_file, cirr_split_file

TRUTH_IMAGES_SCHEMA = pa.schema([
    ("image_id", pa.string()), ("name", pa.string()), ("split", pa.string()),
    ("caption", pa.string()), ("attributes", pa.string()),
])
TRUTH_QUERIES_SCHEMA = pa.schema([
    ("split", pa.string()), ("pairid", pa.int64()), ("reference", pa.string()),
    ("target", pa.string()), ("caption", pa.string()), ("changes", pa.string()),
])
UPLOAD_THREADS = 8


def write_cirr(cirr_uri: str, plans: list[SplitPlan], seed: int, image_size: int, noise: float,
               progress: bool = True) -> tuple[dict[str, int], list[str]]:
    """Write captions/, image_splits/ and img_raw/ for each split; returns (counts, json files)."""
    counts: dict[str, int] = {}
    files: list[str] = []
    total = sum(len(p.scenes) for p in plans)
    bar = tqdm(total=total, desc="cirr images", unit="img", disable=not progress)
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for plan in plans:
            sub = SPLIT_DIRS[plan.split][1]
            futures = []
            for name in plan.scenes:
                png = render_named(plan, name, seed, image_size, noise)
                uri = storage.join(cirr_uri, CIRR_IMAGES_DIR, sub, f"{name}.png")
                futures.append(pool.submit(storage.write_bytes, uri, png))
                bar.update(1)
            for f in futures:
                f.result()
            cap = cirr_captions_file(plan.split)
            spl = cirr_split_file(plan.split)
            storage.write_json(storage.join(cirr_uri, cap),
                               [cirr_record(q, plan.split) for q in plan.queries])
            storage.write_json(storage.join(cirr_uri, spl), split_index(plan))
            files += [cap, spl]
            counts[f"{plan.split}_queries"] = len(plan.queries)
            counts[f"{plan.split}_images"] = len(plan.scenes)
    bar.close()
    return counts, files


def write_truth_queries(uri: str, plans: list[SplitPlan]) -> int:
    """truth/queries.parquet: every query with its target and true changes (JSON)."""
    rows = [(p.split, q["pairid"], q["reference"], q["target"], q["caption"],
             json.dumps(q["changes"], separators=(",", ":")))
            for p in plans for q in p.queries]
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 6
    table = pa.table([pa.array(list(c), f.type) for c, f in zip(cols, TRUTH_QUERIES_SCHEMA,
                                                                  strict=True)],
                     schema=TRUTH_QUERIES_SCHEMA)
    storage.write_parquet(uri, table)
    return table.num_rows


def write_truth_images(uri: str, plans: list[SplitPlan], caption_shards: list[str]) -> int:
    """truth/images.parquet: CIRR images, then the aux gallery streamed shard by shard."""
    fs, path = storage.filesystem(uri)
    n = 0
    try:
        if not storage.is_s3(uri):
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as out, pq.ParquetWriter(out, TRUTH_IMAGES_SCHEMA) as w:
            for p in plans:
                names = list(p.scenes)
                scenes = [p.scenes[k] for k in names]
                w.write_table(pa.table({
                    "image_id": names, "name": names, "split": [p.split] * len(names),
                    "caption": [caption(s) for s in scenes],
                    "attributes": [s.to_json() for s in scenes],
                }, schema=TRUTH_IMAGES_SCHEMA))
                n += len(names)
            for shard in caption_shards:
                t = storage.read_parquet(shard)
                ids = t.column("image_id")
                w.write_table(pa.table({
                    "image_id": ids, "name": ids, "split": pa.array(["aux"] * t.num_rows),
                    "caption": t.column("caption"), "attributes": t.column("attributes"),
                }, schema=TRUTH_IMAGES_SCHEMA))
                n += t.num_rows
    except (OSError, pa.ArrowException) as e:
        raise StorageError(f"{uri}: cannot write truth images ({e})") from None
    return n
