"""`format: auto`: a synthetic world, a CIRR root and a FashionIQ root told apart by their files."""

from __future__ import annotations

import shutil
from typing import get_args

import pytest
from helpers.assets import CIRR_TINY, FASHIONIQ_TINY

from vdgray import layout, manifest
from vdgray.data.formats import AUTO, DataFormat, detect_format, resolve_format
from vdgray.errors import DataFormatError


def test_the_config_type_lists_every_format_and_auto():
    assert get_args(DataFormat) == (AUTO, *layout.DATA_FORMATS)


def test_a_world_is_told_by_its_cirr_part(tmp_path):
    world = tmp_path / "world"
    shutil.copytree(CIRR_TINY, world / layout.CIRR)
    # a world's cirr/ alone is plain CIRR until its manifest says the world wrote it
    assert detect_format(str(world / layout.CIRR)) == "cirr"
    manifest.write_manifest(str(world / layout.CIRR), stage=layout.CIRR_STAGE)
    assert detect_format(str(world)) == "world"


def test_cirr_and_fashioniq_roots(tmp_path):
    assert detect_format(str(CIRR_TINY)) == "cirr"
    assert detect_format(str(FASHIONIQ_TINY)) == "fashioniq"
    # an explicit format is taken as given, whatever the root holds
    assert resolve_format("cirr", str(FASHIONIQ_TINY)) == "cirr"
    assert resolve_format(AUTO, str(FASHIONIQ_TINY)) == "fashioniq"


def test_a_root_matching_nothing_says_what_was_looked_for(tmp_path):
    (tmp_path / "captions").mkdir()
    (tmp_path / "captions" / "notes.json").write_text("[]")
    with pytest.raises(DataFormatError) as err:
        detect_format(str(tmp_path))
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path}: cannot tell the data format")
    assert f"{tmp_path}/cirr/_manifest.json (a synthetic world)" in msg
    assert f"{tmp_path}/captions/cap.rc2.*.json (CIRR)" in msg
    assert f"{tmp_path}/captions/cap.{{dress,shirt,toptee}}.*.json (FashionIQ)" in msg


def test_both_benchmarks_in_one_root_is_ambiguous(tmp_path):
    shutil.copytree(CIRR_TINY / "captions", tmp_path / "captions")
    shutil.copy(FASHIONIQ_TINY / "captions" / "cap.dress.val.json", tmp_path / "captions")
    with pytest.raises(DataFormatError, match="holds both CIRR .* and FashionIQ"):
        detect_format(str(tmp_path))
