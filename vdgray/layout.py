"""The hand-off contracts between stages, written once: paths, manifest stages, schemas.

One stage writes what the next reads, so every name both sides must agree on lives here:
the synthetic world's parts and their sub-paths, the CIRR-format file names inside a world's
cirr/, the index folder's files, every manifest `stage` name, the Parquet schemas of the
gallery, captions, embeddings, pairs and triplets outputs, and the gallery-embedding cache
key that `vdgray eval` and `vdgray index` share. docs/data-contracts.md's table and its
world layout are checked against this module (tests/unit/test_layout.py).
"""

from __future__ import annotations

import os

import pyarrow as pa

from vdgray import manifest, storage

# --- manifest `stage` names (the `stage` field of every `_manifest.json`) -----------------
SYNTH_STAGE = "synth"  # a whole synthetic world (W/_manifest.json)
GALLERY_STAGE = "gallery"
CAPTIONS_STAGE = "captions"
CIRR_STAGE = "cirr"
TRUTH_STAGE = "truth"
ENCODER_STAGE = "model"  # train-encoder's CLIP dir
EMBEDDINGS_STAGE = "embeddings"
PAIRS_STAGE = "pairs"
VDG_MODEL_STAGE = "vdg-model"  # vdg-assemble, train-vdg and vdg-export all write one
VDG_EVAL_STAGE = "vdg-eval"
TRIPLETS_STAGE = "triplets"
CIR_MODEL_STAGE = "cir-model"
EVAL_STAGE = "eval"
CLAIM_STAGE = "cir-claim"
INDEX_STAGE = "index"

MANIFEST_STAGES = (SYNTH_STAGE, GALLERY_STAGE, CAPTIONS_STAGE, CIRR_STAGE, TRUTH_STAGE,
                   ENCODER_STAGE, EMBEDDINGS_STAGE, PAIRS_STAGE, VDG_MODEL_STAGE,
                   VDG_EVAL_STAGE, TRIPLETS_STAGE, CIR_MODEL_STAGE, EVAL_STAGE, CLAIM_STAGE,
                   INDEX_STAGE)

# --- models shipped inside the package (vdgray/assets/<name>) -------------------------------
WORLD_LM = "world-lm"  # the world LM (train/world_lm.py); `vdg assemble --set lm=world-lm`

# --- the synthetic world W ----------------------------------------------------------------
GALLERY = "gallery"  # aux unlabeled gallery: Parquet shards (GALLERY_SCHEMA)
CAPTIONS = "captions"  # the gallery's captions: Parquet shards (CAPTIONS_SCHEMA)
CIRR = "cirr"  # official CIRR rc2 layout (captions/, image_splits/, img_raw/)
TRUTH = "truth"  # ground truth: TRUTH_IMAGES and TRUTH_QUERIES
WORLD_PARTS = (GALLERY, CAPTIONS, CIRR, TRUTH)  # W/_manifest.json is written after these
TRUTH_IMAGES = "images.parquet"  # every image's attributes
TRUTH_QUERIES = "queries.parquet"  # every query's target and true changes


def world_part(world: str, part: str) -> str:
    """The URI of one part (WORLD_PARTS) of the world at `world`."""
    if part not in WORLD_PARTS:
        raise ValueError(f"unknown world part {part!r}; parts: {WORLD_PARTS}")
    return storage.join(world, part)


def cirr_root(world: str) -> str:
    """The CIRR root inside a synthetic world (W/cirr)."""
    return world_part(world, CIRR)


def cirr_root_for(root: str, data_format: str) -> str:
    """The CIRR root of data given as (root, format): a world's cirr/ or a CIRR root itself."""
    return cirr_root(root) if data_format == "world" else root


def split_root(gallery: str) -> tuple[str, str]:
    """(CIRR root, eval's data.format) for a world URI or a CIRR root."""
    if storage.exists(manifest.manifest_uri(cirr_root(gallery))):
        return cirr_root(gallery), "world"
    return gallery, "cirr"


def truth_file(world: str, name: str) -> str:
    """The URI of a truth table (TRUTH_IMAGES or TRUTH_QUERIES) of the world at `world`."""
    return storage.join(world_part(world, TRUTH), name)


# --- the benchmark formats a human-triplet root can hold -----------------------------------
DATA_FORMATS = ("world", "cirr", "fashioniq")  # "auto" in a config: detected from the root


# --- the CIRR rc2 layout (a world's cirr/ and a real CIRR root) ---------------------------
CIRR_VERSION = "rc2"
CIRR_IMAGES_DIR = "img_raw"


def cirr_captions_file(split: str) -> str:
    """A split's queries, relative to the CIRR root ("*" for the detection pattern)."""
    return f"captions/cap.{CIRR_VERSION}.{split}.json"


def cirr_split_file(split: str) -> str:
    """A split's image name -> file map, relative to the CIRR root."""
    return f"image_splits/split.{CIRR_VERSION}.{split}.json"


def cirr_image_roots(root: str) -> tuple[str, ...]:
    """Where a CIRR root's images are looked for, in order (the split files' paths, e.g.
    "./dev/dev-245-2-img1.png", are relative to it): root/img_raw (the synthetic world),
    root itself (train/, dev/, test1/ beside captions/ and image_splits/), and root's parent
    (CLIP4Cir's cirr_dataset/{train,dev,test1} with cirr_dataset/cirr/{captions,...})."""
    return _unique(storage.join(root, CIRR_IMAGES_DIR), root, *_parent_of(root))


# --- the FashionIQ layout -------------------------------------------------------------------
FASHIONIQ_CATEGORIES = ("dress", "shirt", "toptee")
FASHIONIQ_IMAGES_DIR = "images"
FASHIONIQ_IMAGE_EXTS = ("png", "jpg")  # an image is <name>.png, else <name>.jpg


def fashioniq_captions_file(category: str, split: str) -> str:
    """A category's queries, relative to the FashionIQ root ("*" for the detection pattern)."""
    return f"captions/cap.{category}.{split}.json"


def fashioniq_split_file(category: str, split: str) -> str:
    """A category's image names (its gallery), relative to the FashionIQ root."""
    return f"image_splits/split.{category}.{split}.json"


def fashioniq_image_roots(root: str) -> tuple[str, ...]:
    """Where a FashionIQ root's <name>.png|jpg images are looked for, in order: root/images
    (as unpacked), root's parent's images/ (captions/ and image_splits/ one level down),
    root itself and root's parent."""
    up = _parent_of(root)
    return _unique(storage.join(root, FASHIONIQ_IMAGES_DIR),
                   *(storage.join(p, FASHIONIQ_IMAGES_DIR) for p in up), root, *up)


def _parent_of(root: str) -> tuple[str, ...]:
    """root's parent folder, or nothing for a bucket or filesystem root."""
    root = root.rstrip("/") or "/"
    if storage.is_s3(root):
        return (root.rsplit("/", 1)[0],) if "/" in root[len(storage.S3_PREFIX):] else ()
    up = os.path.dirname(os.path.abspath(root))
    return () if up == os.path.abspath(root) else (up,)


def _unique(*uris: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(uris))


# --- the index folder (vdgray index -> vdgray serve) --------------------------------------
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.parquet"  # row position -> image_id
EMBEDDINGS_DIR = "embeddings"  # the gallery's embeddings when it is not a CIRR split

# --- the eval folder (vdgray eval -> vdgray compare-eval) ---------------------------------
METRICS_FILE = "metrics.json"
RANKINGS_FILE = "rankings.parquet"  # top 50 per query

# --- the gallery-embedding cache (shared by vdgray eval and vdgray index) -----------------
EVAL_CACHE_DIR = "eval-cache"  # default cache, next to the output


def eval_cache_uri(output: str, cache: str | None = None) -> str:
    """The gallery-embedding cache that eval and index share: `cache` when set, else
    `eval-cache/` beside the stage's output."""
    return cache or storage.join(storage.parent(output), EVAL_CACHE_DIR)


def gallery_cache_key(data_format: str, root: str, split: str | None, what: str,
                      images: int, image_root: str) -> dict:
    """What names one cached gallery embedding (with the model): eval and index share it.
    The image root is part of it: the same split files over other images are other vectors."""
    return {"format": data_format, "root": root, "split": split, "what": what,
            "images": images, "image_root": image_root}


# --- Parquet schemas and column names -----------------------------------------------------
IMAGE_ID = "image_id"
EMBEDDING = "embedding"
TRIPLET_ID = "triplet_id"

GALLERY_SCHEMA = pa.schema([(IMAGE_ID, pa.string()), ("image", pa.binary())])
CAPTIONS_SCHEMA = pa.schema(
    [(IMAGE_ID, pa.string()), ("caption", pa.string()), ("attributes", pa.string())]
)
EMBEDDINGS_COLUMNS = (IMAGE_ID, EMBEDDING)  # embedding: fixed_size_list<float32>[D]


def embeddings_schema(dim: int) -> pa.Schema:
    """The embeddings output for D-dimensional (L2-normalised) vectors."""
    return pa.schema([(IMAGE_ID, pa.string()), (EMBEDDING, pa.list_(pa.float32(), dim))])


PAIR_COLUMNS = ("pair_id", "reference_id", "target_id")  # what generate reads of a pair
PAIRS_SCHEMA = pa.schema([
    ("pair_id", pa.string()),
    ("reference_id", pa.string()),
    ("target_id", pa.string()),
    ("similarity", pa.float32()),
    ("group_id", pa.int64()),
])

TRIPLETS_SCHEMA = pa.schema(
    [
        pa.field(TRIPLET_ID, pa.string(), nullable=False),
        pa.field("reference_id", pa.string(), nullable=False),
        pa.field("target_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("generator", pa.string(), nullable=False),
    ]
)
SCORE_FIELD = pa.field("score", pa.float32(), nullable=True)  # optional: generate's filter

# docs/data-contracts.md's table: output -> (manifest stage, columns).
DATA_CONTRACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gallery": (GALLERY_STAGE, tuple(GALLERY_SCHEMA.names)),
    "captions": (CAPTIONS_STAGE, tuple(CAPTIONS_SCHEMA.names)),
    "embeddings": (EMBEDDINGS_STAGE, EMBEDDINGS_COLUMNS),
    "pairs": (PAIRS_STAGE, tuple(PAIRS_SCHEMA.names)),
    "triplets": (TRIPLETS_STAGE, (*TRIPLETS_SCHEMA.names, SCORE_FIELD.name)),
}
