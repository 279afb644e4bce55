"""Model directories from a local path or s3://, copied down once per node.

Every stage loads Hugging Face models with `from_pretrained(local_dir)`. An s3:// model is
downloaded into a per-node cache (`$VDGRAY_CACHE` or ~/.cache/vdgray/models/<hash>) the first
time any process on the node asks for it; concurrent actors serialise on a file lock and the
copy appears by an atomic rename, so no actor ever loads a half-copied directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from vdgray import storage
from vdgray.errors import StorageError

_DONE = ".vdgray-complete"


def cache_root() -> Path:
    """Where s3:// models are cached on this node."""
    root = os.environ.get("VDGRAY_CACHE")
    return Path(root) / "models" if root else Path.home() / ".cache" / "vdgray" / "models"


def _cache_dir(uri: str) -> Path:
    digest = hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "model"
    return cache_root() / f"{name}-{digest}"


def local_model_dir(uri: str) -> Path:
    """A local directory holding the model at `uri` (a local path as is; s3:// copied once)."""
    uri = storage.check_uri(str(uri))
    if not storage.is_s3(uri):
        path = Path(uri)
        if not path.is_dir():
            raise StorageError(f"{uri}: model directory not found")
        return path
    target = _cache_dir(uri)
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (target / _DONE).exists():  # another process finished while we waited
                return target
            _download(uri, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _download(uri: str, target: Path) -> None:
    files = storage.list_files(uri)
    if not files:
        raise StorageError(f"{uri}: no model files at this prefix")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        base = uri.rstrip("/") + "/"
        for f in files:
            rel = f[len(base):]
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(storage.read_bytes(f))
        (tmp / _DONE).write_text(uri + "\n")
        if target.exists():  # a stale, incomplete copy from a killed process
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise


def upload_dir(local: str | Path, uri: str) -> list[str]:
    """Copy a local directory to `uri` (local or s3://), file by file; returns relative names."""
    local = Path(local)
    names = []
    for p in sorted(local.rglob("*")):
        if p.is_file():
            rel = p.relative_to(local).as_posix()
            storage.write_bytes(storage.join(uri, rel), p.read_bytes())
            names.append(rel)
    return names
