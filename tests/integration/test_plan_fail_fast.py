"""Every Ray Data stage refuses, at once and by name, a plan its local Ray cannot schedule.

Each command runs as a user runs it, with `-s ray.num_cpus=1`: its default plan (a 1-CPU
encoder actor beside Ray Data's 1-CPU repartition/write tasks) would wait forever there.
Before, `vdgray eval ... -s ray.num_cpus=1` sat for 15 minutes with no error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.paths import BIN
from helpers.tiny_cir import save_tiny_cir
from helpers.worlds import synth_world

pytestmark = pytest.mark.integration

KEYS = "lower concurrency or num_cpus_per_actor, or give Ray more CPUs (ray.num_cpus)"


@pytest.fixture(scope="module")
def world_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("fail-fast")
    world = synth_world(str(root / "world"), n_gallery=6, n_train=4, n_val=4, n_test=4,
                        workers=1)
    model = str(root / "model")
    save_tiny_cir(model)
    return root, world, model


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vdgray"), *args, "-s", "ray.num_cpus=1"],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("stage", ["embed", "index", "eval"])
def test_a_plan_that_cannot_be_scheduled_fails_at_once_naming_the_keys(world_and_model, stage):
    root, world, model = world_and_model
    out = str(root / f"{stage}-out")
    args = {
        "embed": ["embed", "-s", f"gallery={world}/gallery", "-s", "model=tiny-clip",
                  "-s", f"output={out}"],
        "index": ["index", "--model", model, "--gallery", f"{world}/gallery", "-o", out],
        "eval": ["eval", "--model", model, "--data", world, "-s", "data.format=world",
                 "-o", out],
    }[stage]
    r = _run(*args)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: {out}: its Ray plan needs at least 2 CPUs but Ray has 1 ")
    assert line.endswith(f"it would wait forever: {KEYS}")
    assert not Path(out, "_manifest.json").exists()
