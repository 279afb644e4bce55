"""Loader for the official FashionIQ layout, local or on S3.

    root/captions/cap.{dress,shirt,toptee}.{train,val,test}.json
        list of {"candidate": name, "target": name, "captions": [c1, c2]}
    root/image_splits/split.{cat}.{split}.json    list of image names (the category's gallery)
    image_root/<name>.<ext>                       ext png or jpg; image_root found among
        root/images, root/../images, root, root/.. (layout.fashioniq_image_roots)

The query text joins the two captions as CLIP4Cir and most published code do, so scores are
comparable: f"{c1.strip('.?, ').capitalize()} and {c2.strip('.?, ')}". Every problem is a
DataFormatError naming the file, the record index and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vdgray import storage
from vdgray.data import images as img
from vdgray.data.benchmark import BenchmarkSplit, read_json
from vdgray.data.image_root import find_image_root, probe_names
from vdgray.errors import DataFormatError, StorageError
from vdgray.layout import (
    FASHIONIQ_CATEGORIES,
    FASHIONIQ_IMAGE_EXTS,
    fashioniq_captions_file,
    fashioniq_image_roots,
    fashioniq_split_file,
)

FASHIONIQ_SPLITS = ("train", "val", "test")
DEFAULT_EXTS = FASHIONIQ_IMAGE_EXTS


def fashioniq_query_text(c1: str, c2: str) -> str:
    """The common-protocol join of a FashionIQ caption pair (CLIP4Cir)."""
    return f"{c1.strip('.?, ').capitalize()} and {c2.strip('.?, ')}"


@dataclass(frozen=True)
class FashionIQQuery:
    """One FashionIQ query; `index` is the record's position in its captions file."""

    category: str
    index: int
    reference: str
    target: str | None
    captions: tuple[str, str]

    @property
    def text(self) -> str:
        return fashioniq_query_text(*self.captions)


@dataclass
class FashionIQSplit(BenchmarkSplit):
    """A loaded split: queries of all requested categories, galleries and image URIs."""

    split: str
    queries: list[FashionIQQuery]
    galleries: dict[str, list[str]]
    images: dict[str, str]
    image_root: str

    def category_queries(self, category: str) -> list[FashionIQQuery]:
        return [q for q in self.queries if q.category == category]

    def _not_in_split(self, name: str) -> str:
        return (f"{self.image_root}: image {name!r} is not part of the "
                f"FashionIQ {self.split} split that was loaded")

    def _unreadable(self, name: str, err: StorageError) -> str:
        return f"image {name!r} listed but unreadable ({err})"

    def _no_targets(self) -> str:  # test
        return f"FashionIQ {self.split}: queries without targets cannot be turned into triplets"

    def _query_text(self, query: FashionIQQuery) -> str:
        return query.text


def captions_uri(root: str, category: str, split: str) -> str:
    return storage.join(root, fashioniq_captions_file(category, split))


def image_split_uri(root: str, category: str, split: str) -> str:
    return storage.join(root, fashioniq_split_file(category, split))


def _name(rec: dict, key: str, where: str, optional: bool = False) -> str | None:
    if key not in rec:
        if optional:
            return None
        raise DataFormatError(f"{where}: missing field {key!r}")
    val = rec[key]
    if not isinstance(val, str) or not val:
        raise DataFormatError(f"{where}: field {key!r} must be a non-empty string, "
                              f"got {type(val).__name__}")
    return val


def _parse(rec, i: int, uri: str, category: str, split: str) -> FashionIQQuery:
    where = f"{uri}: record {i}"
    if not isinstance(rec, dict):
        raise DataFormatError(f"{where}: expected an object, got {type(rec).__name__}")
    reference = _name(rec, "candidate", where)
    target = _name(rec, "target", where, optional=split == "test")
    caps = rec.get("captions")
    if caps is None:
        raise DataFormatError(f"{where}: missing field 'captions'")
    if not isinstance(caps, list) or len(caps) != 2 or not all(isinstance(c, str) for c in caps):
        raise DataFormatError(f"{where}: field 'captions' must be a list of two strings")
    return FashionIQQuery(category, i, reference, target, (caps[0], caps[1]))


def _resolve(sources: dict[str, str], image_root: str, ext: str | None,
             check: bool) -> dict[str, str]:
    """name -> URI; `sources` maps each name to the file (and record) that listed it.

    With ext None, one listing picks .png then .jpg, so absent images are always errors.
    """
    exts = DEFAULT_EXTS if ext is None else (ext.lstrip("."),)
    if ext is not None and not check:
        return {n: img.image_uri(image_root, f"{n}.{exts[0]}") for n in sources}
    present = img.relative_listing(image_root)
    out, missing = {}, []
    for n, src in sources.items():
        rel = next((f"{n}.{e}" for e in exts if f"{n}.{e}" in present), None)
        if rel is None:
            missing.append(f"{src}: image {n!r}")
        else:
            out[n] = img.image_uri(image_root, rel)
    if missing:
        shown = "; ".join(missing[:3]) + ("; ..." if len(missing) > 3 else "")
        raise DataFormatError(f"{len(missing)} of {len(sources)} listed images are absent under "
                              f"{image_root} as .{' or .'.join(exts)} (first: {shown})")
    return out


def load_fashioniq(root: str, split: str, categories: Sequence[str] = FASHIONIQ_CATEGORIES,
                   image_root: str | None = None, ext: str | None = None,
                   check_images: bool = False) -> FashionIQSplit:
    """Load FashionIQ captions and galleries for `split` and the given categories.

    `ext` None resolves each image by one listing of the image root (.png, then .jpg), so an
    absent image is always an error; with an explicit `ext` images are checked only when
    `check_images` is set. Targets must be in their category's gallery (needed for recall).
    `image_root`, when not given, is the first of `layout.fashioniq_image_roots(root)` holding
    the first and last listed image; none of them is a DataFormatError naming the paths tried.
    """
    if split not in FASHIONIQ_SPLITS:
        raise DataFormatError(f"unknown FashionIQ split {split!r} (expected {FASHIONIQ_SPLITS})")
    bad = [c for c in categories if c not in FASHIONIQ_CATEGORIES]
    if bad or not categories:
        raise DataFormatError(f"unknown FashionIQ categories {bad} "
                              f"(expected some of {FASHIONIQ_CATEGORIES})")
    queries: list[FashionIQQuery] = []
    galleries: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    for cat in categories:
        split_uri = image_split_uri(root, cat, split)
        names = read_json(split_uri, "FashionIQ image_splits")
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise DataFormatError(f"{split_uri}: expected a list of image names")
        galleries[cat] = names
        for n in names:
            sources.setdefault(n, split_uri)
        gallery = set(names)
        cap_uri = captions_uri(root, cat, split)
        records = read_json(cap_uri, "FashionIQ captions")
        if not isinstance(records, list):
            raise DataFormatError(f"{cap_uri}: expected a list of records, "
                                  f"got {type(records).__name__}")
        for i, rec in enumerate(records):
            q = _parse(rec, i, cap_uri, cat, split)
            if split != "train" and q.target is not None and q.target not in gallery:
                raise DataFormatError(f"{cap_uri}: record {i}: field 'target' names image "
                                      f"{q.target!r}, which is not in {split_uri}")
            for n in (q.reference, q.target):
                if n is not None:
                    sources.setdefault(n, f"{cap_uri}: record {i}")
            queries.append(q)
    if image_root is None:
        exts = DEFAULT_EXTS if ext is None else (ext.lstrip("."),)
        probes = [[f"{n}.{e}" for e in exts] for n in probe_names(list(sources))]
        image_root = find_image_root(fashioniq_image_roots(root), probes,
                                     image_split_uri(root, categories[0], split), "FashionIQ")
    images = _resolve(sources, image_root, ext, check_images)
    return FashionIQSplit(split, queries, galleries, images, image_root)
