"""The README's set-up scripts: arguments go to the command they run, never to pip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)


def _bash(script: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_sourcing_setup_defines_the_function_and_leaves_the_callers_arguments_alone():
    r = _bash('set -- --size tiny; source scripts/setup.sh; type -t vdgray_setup; echo "$@"')
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["function", "--size tiny"]
    assert "[setup]" not in r.stdout + r.stderr  # sourcing installs nothing by itself


def test_setup_refuses_extras_that_look_like_an_option():
    r = _bash("bash scripts/setup.sh --size", VDGRAY_VENV=str(VENV))
    assert r.returncode == 2
    assert r.stderr.strip() == "[setup] extras must look like 'dev' or 'dev,gpu', got '--size'"


@pytest.mark.skipif(not (VENV / ".vdgray-installed").is_file(),
                    reason="needs the environment scripts/test.sh set up")
def test_demo_script_passes_every_argument_to_vdgray_demo():
    """`bash scripts/demo.sh --size tiny ...` reached pip as `vdgray[--size]` before."""
    r = _bash("bash scripts/demo.sh --size tiny --help", VDGRAY_VENV=str(VENV))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Usage: vdgray demo [OPTIONS]" in r.stdout
