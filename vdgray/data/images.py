"""Image helpers: decoding encoded bytes, and the image-folder checks of the benchmark loaders.

`decode_image` is the one way encoded image bytes become a PIL image (galleries, the index,
the retriever, the encoders, VDG), so a corrupt image is the same DataFormatError everywhere.
Benchmarks (CIRR, FashionIQ) list images by relative path under an image root that may be
local or on S3. Checking that each listed image exists must cost one listing, not one
request per image, and a bad path must be reported with the file that listed it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from vdgray import storage
from vdgray.errors import DataFormatError


def clean_relpath(rel: str, where: str) -> str:
    """Normalise a listed relative path ("./dev/x.png" -> "dev/x.png"); reject escapes.

    `where` names the file and record that listed it, for the error message.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise DataFormatError(f"{where}: image path must be a non-empty string, got {rel!r}")
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or rel.startswith("/"):
        raise DataFormatError(f"{where}: image path {rel!r} must be relative to the image root")
    return "/".join(parts)


def image_uri(root: str, rel: str) -> str:
    """URI of a cleaned relative path under an image root (local or s3://)."""
    return storage.join(root, *rel.split("/"))


def relative_listing(root: str) -> set[str]:
    """Every file under `root` as a '/'-separated path relative to it (one listing call)."""
    return set(storage.list_relative(root))


def missing_message(missing: list[str], total: int, listed_in: str, root: str,
                    first_file: str | None = None) -> str:
    """One line naming the first missing images, how many, where listed and where looked
    (and the first missing file's own URI when given)."""
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    where = f"; no file {first_file}" if first_file else ""
    return (f"{listed_in}: {len(missing)} of {total} listed images are absent under {root} "
            f"(first: {shown}{where})")


def check_present(rels: Iterable[tuple[str, str]], root: str, listed_in: str) -> None:
    """Raise DataFormatError if any (name, relpath) is not a file under `root`."""
    rels = list(rels)
    present = relative_listing(root)
    missing = [(name, rel) for name, rel in rels if rel not in present]
    if missing:
        raise DataFormatError(missing_message([n for n, _ in missing], len(rels), listed_in,
                                              root, image_uri(root, missing[0][1])))


def decode_rgb(data: bytes, name: str):
    """Decode image bytes to an RGB PIL image; an undecodable file names the image."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataFormatError(f"{name}: cannot decode image ({e})") from None
    return img.convert("RGB")


def decode_image(data: bytes):
    """Encoded bytes -> RGB PIL image; raises DataFormatError with the decoder's reason."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        return img.convert("RGB")
    except Exception as e:  # PIL raises many types for corrupt input
        raise DataFormatError(f"cannot decode image: {type(e).__name__}: {e}") from None
