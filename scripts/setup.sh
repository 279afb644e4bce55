#!/usr/bin/env bash
# Create or reuse a virtual environment (default ./.venv) and install vdgray into it
# (idempotent). CPU torch is installed first so nothing pulls the multi-GB CUDA build on a
# CPU-only machine; set VDGRAY_TORCH_SPEC (e.g. "torch==2.13.0" or "torch") to choose another
# build, VDGRAY_VENV for another environment, PYTHON for another interpreter.
#
# Run it:     bash scripts/setup.sh [extras]          (extras default: none; "dev" for the tests)
# Source it:  source scripts/setup.sh && vdgray_setup [extras]
#             (defines vdgray_setup only; the extras are always its own argument, never the
#             sourcing script's arguments, and it puts the environment's bin/ first on PATH)

vdgray_setup() {
  local extras="${1:-}"
  local root py venv
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  py="${PYTHON:-python3}"
  venv="${VDGRAY_VENV:-$root/.venv}"
  if [ -n "$extras" ] && ! [[ "$extras" =~ ^[a-z][a-z0-9_-]*(,[a-z][a-z0-9_-]*)*$ ]]; then
    echo "[setup] extras must look like 'dev' or 'dev,gpu', got '$extras'" >&2
    return 2
  fi

  if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "vdgray needs Python >= 3.10 (found $("$py" --version 2>&1)); set PYTHON=..." >&2
    return 1
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "[setup] creating virtual environment $venv"
    "$py" -m venv "$venv" || return 1
    "$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | _vdgray_setup_quiet
  fi

  if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "[setup] installing ${VDGRAY_TORCH_SPEC:-torch==2.13.0} (CPU build first)"
    "$venv/bin/python" -m pip install -q "${VDGRAY_TORCH_SPEC:-torch==2.13.0}" 2>&1 \
      | _vdgray_setup_quiet
    "$venv/bin/python" -W ignore -c 'import torch' || return 1  # numpy comes later
  fi

  # Reinstall the package only when its dependency list or the requested extras changed.
  local stamp="$venv/.vdgray-installed" want spec
  want="$(sha1sum "$root/pyproject.toml" | cut -c1-16)-${extras}"
  if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp" 2>/dev/null; then
    spec="$root"
    [ -n "$extras" ] && spec="$root[$extras]"
    echo "[setup] installing vdgray${extras:+[$extras]} and its dependencies"
    # -qq: pip shows errors only (setuptools warns about every editable install)
    "$venv/bin/python" -m pip install -qq -e "$spec" 2>&1 | _vdgray_setup_quiet
    "$venv/bin/python" -c 'import vdgray, torch, ray, transformers, faiss, httpx' || return 1
    echo "$want" >"$stamp"
    # a base-only install must not hide the stamp of a dev install and vice versa
    [ -n "$extras" ] && echo "$(sha1sum "$root/pyproject.toml" | cut -c1-16)-" >>"$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

# pip's notes about this machine's unused local package folders are not news to the user
_vdgray_setup_quiet() { grep -v -E "^WARNING: Location .* is ignored|^$" || true; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run, not sourced
  set -euo pipefail
  vdgray_setup "$@"
fi
