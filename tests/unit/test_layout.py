"""The written contracts (vdgray/layout.py): docs/data-contracts.md states the same ones, readers and
writers name them through the module, and the path helpers give the paths stages used."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from helpers.paths import ROOT

from vdgray import layout, manifest, storage

DOCS = {p.name: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}


def _section(title: str) -> str:
    """The docs section with this `## ` title (docs/data-contracts.md, pipeline.md, ...)."""
    found = [t for t in DOCS.values() if f"\n## {title}\n" in t]
    assert len(found) == 1, f"{title!r} is a section of {len(found)} docs pages"
    return found[0].split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _contract_rows() -> dict[str, tuple[str, list[str]]]:
    """docs/data-contracts.md table: output -> (manifest stage, column names in order)."""
    rows = {}
    for line in _section("Data contracts").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("output", "---"):
            continue
        # each comma-separated item names one column: its first `name` or `name: type`
        items = re.split(r",(?![^(]*\))", cells[1])
        columns = [re.search(r"`([a-z_]+)", item).group(1) for item in items]
        rows[cells[0]] = (cells[2].strip("`"), columns)
    return rows


def test_readme_data_contracts_table_is_the_modules():
    rows = _contract_rows()
    assert set(rows) == set(layout.DATA_CONTRACTS)
    for output, (stage, columns) in layout.DATA_CONTRACTS.items():
        assert rows[output] == (stage, list(columns)), output


def test_the_documented_world_layout_is_the_modules():
    block = _section("The synthetic world").split("```\n", 2)[1]
    lines = [ln for ln in block.splitlines() if ln.strip()]
    names = [ln.split()[0] for ln in lines]
    assert names == [f"{p}/" for p in layout.WORLD_PARTS] + [manifest.MANIFEST_NAME]
    by_part = dict(zip(names, lines, strict=True))
    cirr = by_part[f"{layout.CIRR}/"]
    assert layout.cirr_captions_file("{train,val,test1}") in cirr
    assert layout.cirr_split_file("*") in cirr
    assert f"{layout.CIRR_IMAGES_DIR}/" in cirr
    truth = by_part[f"{layout.TRUTH}/"]
    assert layout.TRUTH_IMAGES in truth and layout.TRUTH_QUERIES in truth


def test_the_serving_page_names_the_index_files():
    serving = _section("Serving")
    for name in (layout.INDEX_FILE, layout.IDS_FILE, manifest.MANIFEST_NAME):
        assert f"`{name}`" in serving


def test_every_manifest_stage_is_a_pipeline_stage_or_a_world_part():
    from vdgray.pipeline import STAGES

    written = {s.manifest_stage for s in STAGES.values() if s.manifest_stage}
    parts = {layout.GALLERY_STAGE, layout.CAPTIONS_STAGE, layout.CIRR_STAGE, layout.TRUTH_STAGE}
    assert parts == set(layout.WORLD_PARTS)
    assert written | parts == set(layout.MANIFEST_STAGES)
    assert len(set(layout.MANIFEST_STAGES)) == len(layout.MANIFEST_STAGES)


def test_stage_names_are_the_contracted_strings():
    # manifests on disk carry these strings: they never change
    assert layout.MANIFEST_STAGES == (
        "synth", "gallery", "captions", "cirr", "truth", "model", "embeddings", "pairs",
        "vdg-model", "vdg-eval", "triplets", "cir-model", "eval", "cir-claim", "index")


# --- no reader or writer spells a contract itself ----------------------------------------
_SPELLED = [
    (re.compile(r"\bstage\s*=\s*\""), "a manifest stage literal (use layout.*_STAGE)"),
    (re.compile(r"storage\.join\([^()]*,\s*\"(gallery|captions|cirr|truth)\"\s*\)"),
     "a world part joined by hand (use layout.world_part / cirr_root)"),
    (re.compile(r"f\"\{[^}]*\}/cirr\""), "a world's cirr/ spelled by hand (use layout.cirr_root)"),
    (re.compile(r"\"(index\.faiss|ids\.parquet|eval-cache|images\.parquet|queries\.parquet)\""),
     "a contracted file name (use the layout constant)"),
    (re.compile(r"(is_complete|read_manifest|read_dataset|dataset_files)\([^()\[\]]*"
                r"(\([^()]*\))?[^()\[\]]*,\s*\"[a-z-]+\"\s*[,)]"), "a manifest stage literal"),
]


def test_no_module_spells_a_contract_itself():
    found = []
    for path in sorted((ROOT / "vdgray").rglob("*.py")):
        if path.name == "layout.py" and path.parent.name == "vdgray":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{n}: {why}: {line.strip()}"
                      for rx, why in _SPELLED if rx.search(line)]
    assert not found, "\n".join(found)


def test_the_guard_flags_the_old_spellings():
    old = ['root = storage.join(cfg.world, "cirr")', 'split = load_cirr(f"{world}/cirr", "v")',
           'manifest.write_manifest(out, stage="pairs", files=f)',
           'doc = manifest.read_manifest(storage.join(w, "gallery"), "gallery")',
           'storage.join(output, "index.faiss")']
    for line in old:
        assert any(rx.search(line) for rx, _ in _SPELLED), line


# --- path helpers -------------------------------------------------------------------------
def test_world_paths_local_and_s3(tmp_path):
    w = str(tmp_path / "world")
    assert layout.cirr_root(w) == str(tmp_path / "world" / "cirr")
    assert layout.world_part(w, layout.GALLERY) == str(tmp_path / "world" / "gallery")
    assert layout.truth_file(w, layout.TRUTH_QUERIES) == str(
        tmp_path / "world" / "truth" / "queries.parquet")
    assert layout.cirr_root("s3://b/runs/w/") == "s3://b/runs/w/cirr"
    assert layout.truth_file("s3://b/w", layout.TRUTH_IMAGES) == "s3://b/w/truth/images.parquet"
    with pytest.raises(ValueError, match="unknown world part"):
        layout.world_part(w, "pairs")


def test_cirr_root_for_a_world_or_a_cirr_root():
    assert layout.cirr_root_for("s3://b/w", "world") == "s3://b/w/cirr"
    assert layout.cirr_root_for("s3://b/CIRR", "cirr") == "s3://b/CIRR"


def test_split_root_tells_a_world_from_a_cirr_root(tmp_path):
    world, cirr = str(tmp_path / "w"), str(tmp_path / "cirr-root")
    manifest.write_manifest(layout.cirr_root(world), stage=layout.CIRR_STAGE, files=[])
    assert layout.split_root(world) == (layout.cirr_root(world), "world")
    assert layout.split_root(cirr) == (cirr, "cirr")


def test_cirr_file_names_are_the_rc2_release():
    assert layout.cirr_captions_file("val") == "captions/cap.rc2.val.json"
    assert layout.cirr_split_file("test1") == "image_splits/split.rc2.test1.json"
    from vdgray.data.cirr import captions_uri, image_split_uri

    assert captions_uri("s3://b/c", "train") == "s3://b/c/captions/cap.rc2.train.json"
    assert image_split_uri("s3://b/c", "train") == "s3://b/c/image_splits/split.rc2.train.json"


def test_gallery_cache_key_names_the_image_root():
    from vdgray.eval.cir_embed import cache_key

    key = layout.gallery_cache_key("world", "s3://b/w", "val", "cirr", 12, "s3://b/w/cirr/img_raw")
    assert list(key.items()) == [("format", "world"), ("root", "s3://b/w"), ("split", "val"),
                                 ("what", "cirr"), ("images", 12),
                                 ("image_root", "s3://b/w/cirr/img_raw")]
    # the same split files over images elsewhere are another cache entry
    other = layout.gallery_cache_key("world", "s3://b/w", "val", "cirr", 12, "s3://b/w/cirr")
    assert cache_key("m", key) != cache_key("m", other)


def test_image_root_candidates_in_probe_order(tmp_path):
    root = str(tmp_path / "cirr_dataset" / "cirr")
    assert layout.cirr_image_roots(root) == (f"{root}/img_raw", root, str(tmp_path / "cirr_dataset"))
    assert layout.cirr_image_roots("s3://b/c") == ("s3://b/c/img_raw", "s3://b/c", "s3://b")
    assert layout.cirr_image_roots("s3://b") == ("s3://b/img_raw", "s3://b")
    assert layout.fashioniq_image_roots("s3://b/f") == ("s3://b/f/images", "s3://b/images",
                                                        "s3://b/f", "s3://b")


def test_schemas():
    assert layout.PAIRS_SCHEMA == pa.schema([
        ("pair_id", pa.string()), ("reference_id", pa.string()), ("target_id", pa.string()),
        ("similarity", pa.float32()), ("group_id", pa.int64())])
    assert layout.PAIR_COLUMNS == tuple(layout.PAIRS_SCHEMA.names[:3])
    assert layout.TRIPLETS_SCHEMA.names == ["triplet_id", "reference_id", "target_id", "text",
                                            "source", "generator"]
    assert not any(f.nullable for f in layout.TRIPLETS_SCHEMA)
    assert layout.SCORE_FIELD.nullable and layout.SCORE_FIELD.type == pa.float32()
    assert layout.TRIPLETS_SCHEMA.names[0] == layout.TRIPLET_ID
    assert layout.GALLERY_SCHEMA.names == ["image_id", "image"]
    assert layout.CAPTIONS_SCHEMA.names == ["image_id", "caption", "attributes"]
    emb = layout.embeddings_schema(8)
    assert emb.names == list(layout.EMBEDDINGS_COLUMNS)
    assert emb.field(layout.EMBEDDING).type == pa.list_(pa.float32(), 8)


def test_the_modules_that_used_to_define_contracts_use_the_layouts():
    from vdgray.data import triplets
    from vdgray.data.synthetic import gallery_writer
    from vdgray.stages import mine
    from vdgray.stages import synth as stage
    from vdgray.stages.generate import committed as generate_committed
    from vdgray.stages.generate import join as generate_join

    assert triplets.TRIPLETS_SCHEMA is layout.TRIPLETS_SCHEMA
    assert mine.PAIRS_SCHEMA is layout.PAIRS_SCHEMA
    assert generate_join.PAIR_COLUMNS is layout.PAIR_COLUMNS
    assert generate_committed.ID_COLUMN == layout.TRIPLET_ID
    assert gallery_writer.GALLERY_SCHEMA is layout.GALLERY_SCHEMA
    assert stage.PARTS == layout.WORLD_PARTS
    assert storage.join("s3://b/w", layout.CIRR) == layout.cirr_root("s3://b/w")
