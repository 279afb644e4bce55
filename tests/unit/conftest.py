"""Fixtures of the unit tier: the tiny CIRR and FashionIQ assets, each read in place and from
the loopback S3 server (one parametrized fixture), and a writable copy for tests that break it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.assets import CIRR_TINY, FASHIONIQ_TINY, upload_tree


def _local_or_s3(request, src: Path, name: str) -> str:
    """`src` itself for the "local" param, else its upload under `<fresh bucket>/<name>`."""
    if request.param == "local":
        return str(src)
    return upload_tree(src, request.getfixturevalue("s3_bucket") + f"/{name}")


@pytest.fixture(params=["local", "s3"])
def cirr_root(request) -> str:
    return _local_or_s3(request, CIRR_TINY, "cirr")


@pytest.fixture(params=["local", "s3"])
def fiq_root(request) -> str:
    return _local_or_s3(request, FASHIONIQ_TINY, "fiq")


@pytest.fixture
def cirr_copy(tmp_path) -> Path:
    dst = tmp_path / "cirr"
    shutil.copytree(CIRR_TINY, dst)
    return dst


@pytest.fixture
def fiq_copy(tmp_path) -> Path:
    dst = tmp_path / "fiq"
    shutil.copytree(FASHIONIQ_TINY, dst)
    return dst
