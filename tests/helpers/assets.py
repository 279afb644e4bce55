"""The small datasets in tests/assets, and a copy of any of them onto a storage URI (local or
s3://), so a loader test reads the same files from both."""

from __future__ import annotations

from pathlib import Path

from vdgray import storage

ASSETS = Path(__file__).parents[1] / "assets"
CIRR_TINY = ASSETS / "cirr_tiny"
FASHIONIQ_TINY = ASSETS / "fashioniq_tiny"


def upload_tree(src: Path, uri: str) -> str:
    """Write every file under `src` to the same relative path under `uri`; returns `uri`."""
    for f in sorted(src.rglob("*")):
        if f.is_file():
            storage.write_bytes(storage.join(uri, *f.relative_to(src).parts), f.read_bytes())
    return uri
