"""Finding a benchmark's image folder among the layouts people unpack it in.

CIRR and FashionIQ list images by relative path or name, and the folder those are relative
to differs between downloads (layout.cirr_image_roots, layout.fashioniq_image_roots). Which
one holds this copy is told by probing a split's first and last listed image under each
candidate (any one found picks it): a few existence checks, never a listing of a root that may hold millions of
files. When none holds them, one DataFormatError names every path tried.
"""

from __future__ import annotations

from collections.abc import Sequence

from vdgray import storage
from vdgray.data import images as img
from vdgray.errors import DataFormatError

# the description of every stage's `image_root` setting (train-cir, eval, index, serve)
IMAGE_ROOT_HELP = ("Image root: CIRR, the folder the split files' ./dev/... paths are relative "
                   "to; FashionIQ, the folder of <name>.png|jpg. Default: found among root/img_raw, "
                   "root and root's parent (CIRR), root/images, root/../images, root, root/.. "
                   "(FashionIQ).")


def probe_names(names: Sequence[str]) -> list[str]:
    """The listed entries a probe checks: the first and the last (one when they agree)."""
    return list(dict.fromkeys([names[0], names[-1]])) if names else []


def find_image_root(candidates: Sequence[str], probes: Sequence[Sequence[str]],
                    listed_in: str, what: str) -> str:
    """The first candidate holding any probe (one image missing from a copy must not hide
    its layout: that is check_images' error); a probe is a list of alternative relative paths
    (name.png, name.jpg). `listed_in` is the file that listed them and `what` ("CIRR") names
    the benchmark in the error."""
    if not probes:
        return candidates[0]
    tried: list[str] = []
    for root in candidates:
        paths = [img.image_uri(root, rel) for alternatives in probes for rel in alternatives]
        if any(storage.exists(p) for p in paths):
            return root
        tried += paths
    raise DataFormatError(
        f"{listed_in}: {what} images not found in any known layout; tried {', '.join(tried)} "
        f"(set image_root to the folder they are relative to)")
