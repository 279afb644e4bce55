"""Shared fixtures: a real S3 server on loopback (moto, over HTTP) and one local Ray per session.

The S3 fixture sets the standard AWS variables so vdgray's storage layer, boto3 and pyarrow
all talk to it exactly as they would to a real S3-compatible store.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="session")
def s3_server():
    """moto's ThreadedMotoServer on 127.0.0.1:<free port>; yields its endpoint URL."""
    from vdgray.loopback import loopback_s3

    with loopback_s3() as endpoint:
        yield endpoint



@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the loopback server; yields `s3://<bucket>`."""
    from vdgray import storage

    name = f"test-{uuid.uuid4().hex[:10]}"
    storage.s3_client().create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(params=["local", "s3"])
def any_uri(request, tmp_path):
    """The same test against a local directory and an s3:// prefix on the loopback server."""
    if request.param == "local":
        return str(tmp_path / "out")
    bucket = request.getfixturevalue("s3_bucket")
    return f"{bucket}/out"


@pytest.fixture(scope="session")
def ray_session(s3_server):
    """One local Ray for all integration tests (2 CPUs, small object store).

    It starts after the S3 server so its workers inherit the AWS_* variables, as a real
    cluster's workers get them from their environment.
    """
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 object_store_memory=1_000_000_000,
                 log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests when CUDA is absent."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright (tests/helpers/browser.py); skips without it."""
    from helpers.browser import launch_browser

    yield from launch_browser()
