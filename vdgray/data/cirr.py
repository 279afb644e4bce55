"""Loader for the official CIRR layout (rc2), local or on S3.

The synthetic world writes its evaluation data in exactly this layout, so this loader is the
code path both for real CIRR and for the embedded demo:

    root/captions/cap.rc2.{train,val,test1}.json   list of {pairid, reference, target_hard,
        target_soft, caption, img_set{id, members}} (test1 has no target_hard/target_soft)
    root/image_splits/split.rc2.{split}.json       {name: "./dev/dev-245-2-img1.png", ...}
    image_root/<relative path>                     default: found (data.image_root)

Every problem is a DataFormatError naming the file, the record (index and pairid) and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vdgray import storage
from vdgray.data import images as img
from vdgray.data.benchmark import BenchmarkSplit, read_json
from vdgray.data.image_root import find_image_root, probe_names
from vdgray.errors import DataFormatError, StorageError
from vdgray.layout import CIRR_VERSION, cirr_captions_file, cirr_image_roots, cirr_split_file

CIRR_SPLITS = ("train", "val", "test1")
VERSION = CIRR_VERSION


@dataclass(frozen=True)
class CirrQuery:
    """One CIRR query. `target` is None (and `target_soft` empty) for test1."""

    pairid: int
    reference: str
    caption: str
    target: str | None
    target_soft: dict[str, float]
    members: tuple[str, ...]
    set_id: int


@dataclass
class CirrSplit(BenchmarkSplit):
    """A loaded split: its queries and its image table (name -> image URI, file order)."""

    split: str
    queries: list[CirrQuery]
    images: dict[str, str]
    captions_uri: str
    image_split_uri: str
    image_root: str
    _by_pairid: dict[int, CirrQuery] = field(default_factory=dict, repr=False)

    @property
    def gallery_names(self) -> list[str]:
        """Every image of the split (the evaluation gallery), in image_splits file order."""
        return list(self.images)

    def query(self, pairid: int) -> CirrQuery:
        if not self._by_pairid:
            self._by_pairid = {q.pairid: q for q in self.queries}
        try:
            return self._by_pairid[pairid]
        except KeyError:
            raise DataFormatError(f"{self.captions_uri}: no query with pairid {pairid}") from None

    def _not_in_split(self, name: str) -> str:
        return f"{self.image_split_uri}: image {name!r} is not in the {self.split} split"

    def _unreadable(self, name: str, err: StorageError) -> str:
        return f"{self.image_split_uri}: image {name!r} listed but unreadable ({err})"

    def _no_targets(self) -> str:  # test1
        return (f"{self.captions_uri}: split {self.split!r} has no targets, "
                "so it cannot be turned into triplets")

    def _query_text(self, query: CirrQuery) -> str:
        return query.caption


def captions_uri(root: str, split: str) -> str:
    return storage.join(root, cirr_captions_file(split))


def image_split_uri(root: str, split: str) -> str:
    return storage.join(root, cirr_split_file(split))


def _load_image_split(uri: str) -> dict[str, str]:
    """name -> cleaned relative path, in file order."""
    data = read_json(uri, "CIRR image_splits")
    if not isinstance(data, dict):
        raise DataFormatError(f"{uri}: expected an object {{name: relative path}}, "
                              f"got {type(data).__name__}")
    return {name: img.clean_relpath(rel, f"{uri}: image {name!r}") for name, rel in data.items()}


def _typed(rec: dict, key: str, typ, where: str, optional: bool = False):
    if key not in rec:
        if optional:
            return None
        raise DataFormatError(f"{where}: missing field {key!r}")
    val = rec[key]
    if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise DataFormatError(f"{where}: field {key!r} must be {names}, got {type(val).__name__}")
    return val


def _parse_query(rec, i: int, uri: str, split: str, images: dict[str, str],
                 split_uri: str) -> CirrQuery:
    where = f"{uri}: record {i}"
    if not isinstance(rec, dict):
        raise DataFormatError(f"{where}: expected an object, got {type(rec).__name__}")
    pairid = _typed(rec, "pairid", int, where)
    where = f"{uri}: record {i} (pairid {pairid})"
    reference = _typed(rec, "reference", str, where)
    caption = _typed(rec, "caption", str, where)
    img_set = _typed(rec, "img_set", dict, where)
    set_id = _typed(img_set, "id", int, where + " img_set")
    members = _typed(img_set, "members", list, where + " img_set")
    if not all(isinstance(m, str) for m in members):
        raise DataFormatError(f"{where}: field 'img_set.members' must be a list of image names")
    has_target = split != "test1" or "target_hard" in rec
    target = _typed(rec, "target_hard", str, where) if has_target else None
    soft = _typed(rec, "target_soft", dict, where, optional=not has_target) or {}
    if not all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
               for k, v in soft.items()):
        raise DataFormatError(f"{where}: field 'target_soft' must map image names to numbers")
    checks = [("reference", reference)]
    if target is not None:
        checks.append(("target_hard", target))
    if split != "train":  # members matter only for the subset metric (val, test1)
        checks += [("img_set.members", m) for m in members]
    for key, name in checks:
        if name not in images:
            raise DataFormatError(f"{where}: field {key!r} names image {name!r}, "
                                  f"which is not in {split_uri}")
    return CirrQuery(pairid=pairid, reference=reference, caption=caption, target=target,
                     target_soft={k: float(v) for k, v in soft.items()},
                     members=tuple(members), set_id=set_id)


def load_cirr(root: str, split: str, image_root: str | None = None,
              check_images: bool = False) -> CirrSplit:
    """Load one CIRR split ("train", "val" or "test1") from a local path or s3:// URI.

    `image_root` (what the split file's "./dev/..." paths are relative to) is, when not
    given, the first of `layout.cirr_image_roots(root)` that holds the split's first and last
    image (img_raw/, beside captions/, the parent folder); none of them is a DataFormatError
    naming every path tried. With `check_images`, one listing of the image root verifies that
    every image of the split exists.
    """
    if split not in CIRR_SPLITS:
        raise DataFormatError(f"unknown CIRR split {split!r} (expected one of {CIRR_SPLITS})")
    cap_uri, split_uri = captions_uri(root, split), image_split_uri(root, split)
    rels = _load_image_split(split_uri)
    records = read_json(cap_uri, "CIRR captions")
    if not isinstance(records, list):
        raise DataFormatError(f"{cap_uri}: expected a list of records, got {type(records).__name__}")
    queries, seen = [], {}
    for i, rec in enumerate(records):
        q = _parse_query(rec, i, cap_uri, split, rels, split_uri)
        if q.pairid in seen:
            raise DataFormatError(f"{cap_uri}: record {i} (pairid {q.pairid}): duplicate pairid "
                                  f"(also record {seen[q.pairid]})")
        seen[q.pairid] = i
        queries.append(q)
    if image_root is None:
        probes = [[rels[name]] for name in probe_names(list(rels))]
        image_root = find_image_root(cirr_image_roots(root), probes, split_uri, "CIRR")
    if check_images:
        img.check_present(rels.items(), image_root, split_uri)
    images = {name: img.image_uri(image_root, rel) for name, rel in rels.items()}
    return CirrSplit(split=split, queries=queries, images=images, captions_uri=cap_uri,
                     image_split_uri=split_uri, image_root=image_root)

