"""The private Ray APIs vdgray calls by name are still there, with the signature we call.

Ray has no public call for these, so `pyproject.toml` pins Ray to the minor version they were
written against. When a new Ray drops or renames one, this test says which, where vdgray uses
it, and what to do, instead of a generate run failing in a worker hours in.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import tomllib
from helpers.paths import ROOT

# (module, attribute path, parameters we pass, where vdgray uses it)
PRIVATE = [
    ("ray.data.checkpoint.checkpoint_writer", "PENDING_CHECKPOINT_SUFFIX", None,
     "vdgray/stages/generate/committed.py (finish_half_commits)"),
    ("ray.data.checkpoint.checkpoint_filter", "IdColumnCheckpointManager", None,
     "vdgray/stages/generate/committed.py (_manager_cls)"),
    ("ray.data.checkpoint.checkpoint_filter",
     "IdColumnCheckpointManager._clean_pending_checkpoints",
     ("data_file_dir", "data_file_filesystem"),
     "vdgray/stages/generate/committed.py (PendingCleanupManager.load_checkpoint)"),
    ("ray.data.checkpoint.checkpoint_filter", "IdColumnCheckpointManager.load_checkpoint",
     ("data_file_dir", "data_file_filesystem"),
     "vdgray/stages/generate/committed.py (overridden by PendingCleanupManager)"),
    # the cluster launcher's own config check: tests/unit/test_cluster_yaml.py runs cluster/*.yaml
    # through it (Ray has no public call that fills defaults and validates a cluster config)
    ("ray.autoscaler._private.util", "prepare_config", ("config",),
     "tests/unit/test_cluster_yaml.py (import at the top)"),
    ("ray.autoscaler._private.util", "validate_config", ("config",),
     "tests/unit/test_cluster_yaml.py (import at the top)"),
    ("ray.train.v2._internal.constants", "ENV_VARS_TO_PROPAGATE", None,
     "vdgray/train/ray_run.py (own_cluster_env, the health-check variables)"),
]


@pytest.mark.parametrize("module,path,params,where", PRIVATE, ids=[p[1] for p in PRIVATE])
def test_a_private_ray_api_we_call_is_there(module, path, params, where):
    import ray

    advice = (f"ray {ray.__version__}: {module}.{path} is gone or changed; vdgray uses it in "
              f"{where}. Adapt that code to this Ray, then move the Ray bound in pyproject.toml")
    try:
        obj = importlib.import_module(module)
        for part in path.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"{advice} ({e})")
    if params:
        got = list(inspect.signature(obj).parameters)
        assert all(p in got for p in params), f"{advice} (its parameters are now {got})"


def test_the_cluster_config_schema_ships_where_the_yaml_test_reads_it():
    import ray

    schema = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    assert schema.is_file(), (
        f"ray {ray.__version__}: {schema} is gone; tests/unit/test_cluster_yaml.py (RAY_SCHEMA) "
        "validates cluster/*.yaml against it. Point RAY_SCHEMA at its new place")


def test_ray_is_pinned_to_the_minor_version_these_apis_were_written_for():
    import ray

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("ray["))
    major_minor = ".".join(ray.__version__.split(".")[:2])
    assert f">={major_minor}" in spec and "<" in spec, (
        f"pyproject.toml: {spec!r} must bound Ray to {major_minor}.* (private APIs above)")
