#!/usr/bin/env bash
# Create or reuse ./.venv and install vdgray into it (idempotent).
# CPU torch is installed first so nothing pulls the multi-GB CUDA build on a CPU-only machine;
# set VDGRAY_TORCH_SPEC (e.g. "torch==2.13.0" or "torch") to choose another build.
# Usage: source scripts/setup.sh [extras]   (extras default: none; "dev" for the tests)
set -euo pipefail
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_extras="${1:-}"
_py="${PYTHON:-python3}"
_venv="${VDGRAY_VENV:-$_root/.venv}"

if ! "$_py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "vdgray needs Python >= 3.10 (found $("$_py" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
if [ ! -x "$_venv/bin/python" ]; then
  echo "[setup] creating virtual environment $_venv"
  "$_py" -m venv "$_venv"
  "$_venv/bin/python" -m pip install -q --upgrade pip
fi
_pip() { "$_venv/bin/python" -m pip "$@"; }

if ! "$_venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "[setup] installing ${VDGRAY_TORCH_SPEC:-torch==2.13.0} (CPU build first)"
  _pip install -q "${VDGRAY_TORCH_SPEC:-torch==2.13.0}"
fi

# Reinstall the package only when its dependency list or the requested extras changed.
_stamp="$_venv/.vdgray-installed"
_want="$(sha1sum "$_root/pyproject.toml" | cut -c1-16)-${_extras}"
if [ ! -f "$_stamp" ] || ! grep -qx -- "$_want" "$_stamp" 2>/dev/null; then
  _spec="$_root"
  [ -n "$_extras" ] && _spec="$_root[$_extras]"
  echo "[setup] installing vdgray${_extras:+[$_extras]} and its dependencies"
  _pip install -q -e "$_spec" 2>&1 | grep -v -E "^WARNING: Location|^$" || true
  "$_venv/bin/python" -c 'import vdgray, torch, ray, transformers, faiss' >/dev/null
  echo "$_want" >"$_stamp"
  # a base-only install must not hide the stamp of a dev install and vice versa
  [ -n "$_extras" ] && echo "$(sha1sum "$_root/pyproject.toml" | cut -c1-16)-" >>"$_stamp"
fi
export PATH="$_venv/bin:$PATH"
