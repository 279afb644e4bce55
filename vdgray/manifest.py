"""`_manifest.json`: the written-down hand-off between stages.

A stage writes its Parquet shards first and the manifest last, so a prefix with a manifest
is finished and one without is partial. The manifest lists the shard files it vouches for;
readers read exactly those, so stray files from a killed run are never picked up.
"""

from __future__ import annotations

import datetime as _dt
import functools
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa

from vdgray import __version__, storage
from vdgray.errors import IncompleteOutputError, StorageError

MANIFEST_NAME = "_manifest.json"
SCHEMA_VERSION = 1


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit when running from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__


def manifest_uri(uri: str) -> str:
    return storage.join(uri, MANIFEST_NAME)


def write_manifest(
    uri: str,
    *,
    stage: str,
    config: dict | None = None,
    inputs: dict[str, str] | None = None,
    counts: dict[str, int] | None = None,
    files: list[str] | None = None,
    wall_time_s: float | None = None,
    failures: list[dict] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict:
    """Write the manifest (last step of a stage). `files` are paths relative to `uri`."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "producer": "vdgray",
        "code_version": code_version(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config or {},
        "inputs": inputs or {},
        "counts": counts or {},
        "files": sorted(files or []),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "failures": failures or [],
    }
    if extra:
        doc.update(extra)
    storage.write_json(manifest_uri(uri), doc)
    return doc


def read_manifest(uri: str, stage: str | None = None) -> dict:
    """Read a finished output's manifest; no manifest means the producer did not finish."""
    muri = manifest_uri(uri)
    if not storage.exists(muri):
        what = f"the {stage} stage" if stage else "its producer"
        raise IncompleteOutputError(
            f"{uri}: no {MANIFEST_NAME} (not written, or {what} did not finish)"
        )
    doc = storage.read_json(muri)
    if not isinstance(doc, dict) or "stage" not in doc:
        raise StorageError(f"{muri}: not a vdgray manifest (no 'stage' field)")
    if doc.get("schema_version", 0) > SCHEMA_VERSION:
        raise StorageError(
            f"{muri}: schema_version {doc['schema_version']} is newer than this vdgray "
            f"understands ({SCHEMA_VERSION}); upgrade vdgray"
        )
    if stage is not None and doc["stage"] != stage:
        raise StorageError(f"{muri}: written by stage {doc['stage']!r}, expected {stage!r}")
    return doc


def is_complete(uri: str, stage: str | None = None) -> bool:
    """True if `uri` holds a finished output (of `stage`, when given)."""
    try:
        read_manifest(uri, stage)
    except IncompleteOutputError:
        return False
    return True


def dataset_files(uri: str, stage: str | None = None) -> list[str]:
    """URIs of the Parquet shards a finished output's manifest vouches for."""
    doc = read_manifest(uri, stage)
    return [storage.join(uri, f) for f in doc["files"]]


def read_dataset(uri: str, stage: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """Read a finished Parquet output into memory (for small outputs and tests)."""
    files = dataset_files(uri, stage)
    if not files:
        raise StorageError(f"{uri}: manifest lists no data files")
    return storage.read_parquet(files, columns=columns)


def ray_dataset(uri: str, stage: str | None = None, columns: list[str] | None = None):
    """A streaming Ray Dataset over a finished output's shards (nothing collected on the driver)."""
    import ray.data

    files = dataset_files(uri, stage)
    if not files:
        raise StorageError(f"{uri}: manifest lists no data files")
    fs, _ = storage.filesystem(uri)
    paths = [storage.filesystem(f)[1] for f in files]
    return ray.data.read_parquet(paths, filesystem=fs, columns=columns)
