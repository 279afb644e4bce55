"""Telling which benchmark a root holds, so `format: auto` needs no setting where it is clear.

A synthetic world has its cirr/ part with a manifest (or its own "synth" manifest); a CIRR
root has captions/cap.rc2.<split>.json; a FashionIQ root has captions/cap.<category>.<split>.json.
A root matching none, or both benchmarks, is a DataFormatError saying what was looked for.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Literal

from vdgray import manifest, storage
from vdgray.errors import DataFormatError
from vdgray.layout import (
    FASHIONIQ_CATEGORIES,
    SYNTH_STAGE,
    cirr_captions_file,
    cirr_root,
    fashioniq_captions_file,
)

AUTO = "auto"
# a config's `format` key: one of layout.DATA_FORMATS, or auto (tests/unit/data checks both agree)
DataFormat = Literal["auto", "world", "cirr", "fashioniq"]
CAPTIONS_DIR = cirr_captions_file("*").split("/", 1)[0]


def _is_world(root: str) -> bool:
    if storage.exists(manifest.manifest_uri(cirr_root(root))):
        return True
    own = manifest.manifest_uri(root)
    return storage.exists(own) and storage.read_json(own).get("stage") == SYNTH_STAGE


def detect_format(root: str) -> str:
    """"world", "cirr" or "fashioniq" for the data at `root`."""
    if _is_world(root):
        return "world"
    names = [f"{CAPTIONS_DIR}/{n}" for n in storage.list_relative(storage.join(root, CAPTIONS_DIR))
             if "/" not in n]
    found = []
    if any(fnmatch(n, cirr_captions_file("*")) for n in names):
        found.append("cirr")
    if any(fnmatch(n, fashioniq_captions_file(c, "*")) for n in names
           for c in FASHIONIQ_CATEGORIES):
        found.append("fashioniq")
    if len(found) == 1:
        return found[0]
    fiq = fashioniq_captions_file("{" + ",".join(FASHIONIQ_CATEGORIES) + "}", "*")
    if found:
        raise DataFormatError(f"{storage.join(root, CAPTIONS_DIR)}: holds both CIRR "
                              f"({cirr_captions_file('*')}) and FashionIQ ({fiq}) captions; "
                              "set the format (cirr or fashioniq)")
    raise DataFormatError(
        f"{root}: cannot tell the data format: looked for "
        f"{manifest.manifest_uri(cirr_root(root))} (a synthetic world), "
        f"{storage.join(root, cirr_captions_file('*'))} (CIRR) and "
        f"{storage.join(root, fiq)} (FashionIQ); set the format (world, cirr or fashioniq)")


def resolve_format(data_format: str, root: str) -> str:
    """`data_format` itself, or for "auto" the one detected at `root`."""
    return detect_format(root) if data_format == AUTO else data_format
