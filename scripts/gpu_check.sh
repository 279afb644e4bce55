#!/usr/bin/env bash
# The GPU paths that CI cannot run (no GPU there), checked in one run on a machine with one
# CUDA GPU, each beside its CPU path in the same run: a bf16 VDG training step (train-vdg),
# embedding with GPU actors (embed), `generate --backend vllm` through Ray Data LLM on a tiny
# export, and a FAISS GPU index (mine). Writes one JSON and prints a table: per part the wall
# time of each path (the whole `vdgray` command: Ray start and model load included), the CPU/GPU
# ratio, and the error of a part that failed. A failed part is recorded and the check goes on;
# the exit status is 1 when any part failed. Never run by CI.
#
#   bash scripts/gpu_check.sh [--out FILE] [--budget SECONDS] [--dry-run]
#
# --out      JSON path (default bench-results/gpu-check.json)
# --budget   the whole run, set-up included (default 480 = 8 minutes); parts that would start
#            past it are recorded as skipped
# --dry-run  print the `vdgray` commands (one per line: part, path, command) and run nothing
#
# Set-up (recorded in the JSON as the setup parts): a virtual environment, VDGRAY_GPU_VENV
# (default ./.venv-gpu), that sees the machine's own packages (a preinstalled CUDA torch is
# used as is; without one, pip installs PyPI's torch, the CUDA build, which is right here),
# then vdgray with pip, then vllm (the gpu extra's pin) and faiss-gpu-cu12 when they install.
# VDGRAY_GPU_WHEELS=DIR installs from a folder of wheels only (a machine without an index).
# The tiny world and VDG are built in a scratch folder (VDGRAY_GPU_CHECK_WORK to keep it).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
out="bench-results/gpu-check.json" budget=480 dry="" setup_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --setup) setup_only="$2"; shift 2 ;;  # internal: one set-up step (see setup_step)
    --out) out="$2"; shift 2 ;;
    --budget) budget="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see the top of scripts/gpu_check.sh)" >&2; exit 2 ;;
  esac
done
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "gpu_check.sh: --budget must be seconds, got '$budget'" >&2; exit 2; }
start=$(date +%s)
deadline=$((start + budget))
work='$WORK'
[ -z "$dry$setup_only" ] && work="${VDGRAY_GPU_CHECK_WORK:-$(mktemp -d -t vdgray-gpu-check-XXXXXX)}"
venv="${VDGRAY_GPU_VENV:-$root/.venv-gpu}"
records="$work/records.tsv"
if [ -z "$dry" ] && [ -z "$setup_only" ]; then
  mkdir -p "$work/logs" && : >"$records"
  echo "[gpu-check] work folder $work, budget ${budget}s, JSON $out"
fi

# record PART PATH SECONDS STATUS ERROR COMMAND  (STATUS: ok | failed | skipped)
record() {
  local err="${5//$'\t'/ }" cmd="${6//$'\t'/ }"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${err//$'\n'/ | }" "$cmd" >>"$records"
}
ok() { grep -q -P "^$1\t$2\t[^\t]*\tok\t" "$records" 2>/dev/null; }

# run PART PATH CAP_S COMMAND... : time one command, at most CAP_S and never past the deadline
run() {
  local part="$1" path="$2" cap="$3"; shift 3
  if [ -n "$dry" ]; then printf '%s %s %s\n' "$part" "$path" "$*"; return 0; fi
  local left=$((deadline - $(date +%s))) log="$work/logs/$part-$path.log" t0 t1 rc secs err=""
  if [ "$left" -lt 15 ]; then
    record "$part" "$path" "" skipped "the ${budget}s budget ran out before it started" "$*"
    return 1
  fi
  [ "$cap" -gt "$left" ] && cap="$left"
  local cmd=("$@")
  [ "${cmd[0]}" = vdgray ] && cmd[0]="$venv/bin/vdgray"
  echo "[gpu-check] $part/$path: $*"
  t0=$(date +%s.%N)
  timeout -k 10 "$cap" "${cmd[@]}" >"$log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  if [ "$rc" = 0 ]; then
    record "$part" "$path" "$secs" ok "" "$*"
    return 0
  fi
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    err="timed out after ${cap}s"
  else
    err="exit $rc: $(grep -v '^\s*$' "$log" | tail -n 4 | cut -c1-300)"
  fi
  record "$part" "$path" "$secs" failed "$err (log: $log)" "$*"
  return 1
}

# skip PART PATH WHY [COMMAND...]: a part that cannot run, recorded without running
skip() {
  if [ -n "$dry" ]; then return 0; fi
  local part="$1" path="$2" why="$3"; shift 3
  record "$part" "$path" "" failed "$why" "$*"
}

# ---- set-up -------------------------------------------------------------------------------
pip_args=()
[ -n "${VDGRAY_GPU_WHEELS:-}" ] && pip_args=(--no-index --find-links "$VDGRAY_GPU_WHEELS")
setup_step() {  # one step, run (and timed) as its own process: bash gpu_check.sh --setup STEP
  local py="$venv/bin/python"
  case "$1" in
    vdgray)
      if ! nvidia-smi -L >/dev/null 2>&1; then  # install nothing (no CUDA torch) without a GPU
        "$py" -c 'import vdgray, torch' && return 0
        echo "no GPU here (nvidia-smi finds none): VDGRAY_GPU_VENV must name an environment with vdgray installed" >&2
        return 1
      fi
      [ -x "$py" ] || python3 -m venv --system-site-packages "$venv" || return 1
      if ! "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        "$py" -m pip install -q "${pip_args[@]}" torch || return 1
      fi
      "$py" -m pip install -q "${pip_args[@]}" -e "$root" ;;
    vllm) "$py" -m pip install -q "${pip_args[@]}" "vllm==0.29.0" "transformers>=5.10.4,<5.17" ;;
    faiss-gpu) "$py" -m pip install -q "${pip_args[@]}" "faiss-gpu-cu12>=1.9" ;;
  esac
}
if [ -n "$setup_only" ]; then setup_step "$setup_only"; exit; fi
if [ -z "$dry" ]; then
  run setup vdgray 300 bash "$root/scripts/gpu_check.sh" --setup vdgray
  if nvidia-smi -L >/dev/null 2>&1; then
    run setup vllm 240 bash "$root/scripts/gpu_check.sh" --setup vllm
    run setup faiss-gpu 120 bash "$root/scripts/gpu_check.sh" --setup faiss-gpu
  else
    record setup vllm "" skipped "no GPU here (nvidia-smi finds none)" ""
    record setup faiss-gpu "" skipped "no GPU here (nvidia-smi finds none)" ""
  fi
fi

gpu_reason=""
if [ -z "$dry" ]; then
  if ! ok setup vdgray; then
    gpu_reason="set-up failed (see the setup/vdgray part)"
  elif ! gpu_reason="$("$venv/bin/python" -c 'import torch
print("" if torch.cuda.is_available() else f"no CUDA GPU: torch {torch.__version__} sees none")' 2>&1)"; then
    gpu_reason="torch does not import: $gpu_reason"
  fi
fi

# ---- the tiny world and VDG -----------------------------------------------------------------
W="$work"
if [ -n "$dry" ] || ok setup vdgray; then
  run build world 120 vdgray synth -o "$W/world" --set n_gallery=480 --set n_train=64 \
    --set n_val=16 --set n_test=16 --set progress=false
  run build vdg 120 vdgray vdg assemble --vision world-clip-random --world "$W/world" \
    -o "$W/vdg0" --set lm_hidden=256 --set lm_layers=4 --set lm_heads=4
fi

# ---- the parts: CPU path, then GPU path -----------------------------------------------------
# gpu_part PART CAP COMMAND...: the GPU path, unless the machine has no usable GPU
gpu_part() {
  local part="$1" cap="$2"; shift 2
  if [ -n "$gpu_reason" ]; then skip "$part" gpu "$gpu_reason" "$@"; else run "$part" gpu "$cap" "$@"; fi
}
needs() {  # needs PART PATH FOR_PART: the later part cannot run without that one
  [ -n "$dry" ] || ok "$1" "$2" || { skip "$3" cpu "needs $1/$2, which did not finish"; \
    skip "$3" gpu "needs $1/$2, which did not finish"; return 1; }
}

train=(vdgray train-vdg --stage align --model "$W/vdg0" --world "$W/world" --epochs 1
       --set limit=256 --set batch_size=32 --set unfreeze_lm=true --set bf16=true)
if needs build vdg train_vdg_bf16; then
  run train_vdg_bf16 cpu 150 "${train[@]}" -o "$W/vdg-cpu" --set use_gpu=false
  gpu_part train_vdg_bf16 150 "${train[@]}" -o "$W/vdg-gpu" --set use_gpu=true
fi

embed=(vdgray embed --gallery "$W/world" --model world-clip-random --set batch_size=64)
if needs build world embed; then
  run embed cpu 120 "${embed[@]}" -o "$W/emb-cpu" --set use_gpu=false
  gpu_part embed 120 "${embed[@]}" -o "$W/emb-gpu" --set use_gpu=true --set concurrency=1
fi

# exact inner-product search over the gallery's embeddings; loose thresholds so a random
# encoder still yields pairs for generate
mine=(vdgray mine --embeddings "$W/emb-cpu" --set index=flat --set top_k=10
      --set max_similarity=1.0 --set min_gap=0.0 --set require_full_group=false)
if needs embed cpu faiss_index; then
  run faiss_index cpu 90 "${mine[@]}" -o "$W/pairs-cpu" --set use_gpu=false
  gpu_part faiss_index 90 "${mine[@]}" -o "$W/pairs-gpu" --set use_gpu=true
fi

# the export of whichever training finished (its weights do not matter to the timing)
trained="$W/vdg-gpu"
[ -z "$dry" ] && ! ok train_vdg_bf16 gpu && trained="$W/vdg-cpu"
if [ -n "$dry" ] || ok train_vdg_bf16 gpu || ok train_vdg_bf16 cpu; then
  run build export 90 vdgray vdg export -m "$trained" -o "$W/export"
else
  skip build export "needs a finished train_vdg_bf16 (cpu or gpu)"
fi
generate=(vdgray generate --pairs "$W/pairs-cpu" --gallery "$W/world" --model "$W/export"
          --set max_pairs=64 --set batch_size=32 --set sampling.max_new_tokens=16)
if needs build export generate_vllm && needs faiss_index cpu generate_vllm; then
  run generate_vllm cpu 150 "${generate[@]}" -o "$W/trip-cpu" --set backend=transformers \
    --set use_gpu=false
  if [ -z "$dry" ] && [ -z "$gpu_reason" ] && ! ok setup vllm; then
    skip generate_vllm gpu "vllm did not install (see the setup/vllm part)"
  else
    gpu_part generate_vllm 180 "${generate[@]}" -o "$W/trip-gpu" --set backend=vllm \
      --set use_gpu=true --set vllm.enforce_eager=true
  fi
fi
[ -n "$dry" ] && exit 0

# ---- the JSON and the table -----------------------------------------------------------------
py="$venv/bin/python"; [ -x "$py" ] || py=python3
"$py" - "$records" "$out" "$budget" "$start" "$work" <<'PY'
import json, os, subprocess, sys, time

records, out, budget, start, work = sys.argv[1:]
parts: dict = {}
for line in open(records):
    part, path, secs, status, error, command = line.rstrip("\n").split("\t")
    parts.setdefault(part, {})[path] = {
        "status": status, "seconds": float(secs) if secs else None,
        "error": error or None, "command": command or None}
for part, paths in parts.items():
    cpu, gpu = paths.get("cpu"), paths.get("gpu")
    if cpu and gpu and cpu["status"] == gpu["status"] == "ok":
        paths["cpu_over_gpu"] = round(cpu["seconds"] / gpu["seconds"], 2)


def probe(code: str) -> str | None:
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60).stdout.strip() or None
    except Exception:
        return None


doc = {
    "what": "scripts/gpu_check.sh: each part's wall time on the CPU path and the GPU path "
            "(the whole vdgray command: Ray start and model load included) and their ratio",
    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(start))),
    "total_seconds": round(time.time() - int(start), 1), "budget_seconds": int(budget),
    "gpu": probe("import torch; print(torch.cuda.get_device_name(0))"),
    "torch": probe("import torch; print(torch.__version__, torch.version.cuda)"),
    "work": work, "parts": parts,
    "failed": sorted(f"{p}/{k}" for p, v in parts.items() for k, r in v.items()
                     if isinstance(r, dict) and r["status"] != "ok"),
}
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
tmp = f"{out}.tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
os.replace(tmp, out)

print(f"\n{'part':<16}{'path':<11}{'status':<9}{'seconds':>9}{'cpu/gpu':>9}  error")
for part, paths in parts.items():
    for path, r in paths.items():
        if not isinstance(r, dict):
            continue
        ratio = paths.get("cpu_over_gpu", "") if path == "gpu" else ""
        secs = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        print(f"{part:<16}{path:<11}{r['status']:<9}{secs:>9}{ratio!s:>9}  {(r['error'] or '')[:90]}")
print(f"\n[gpu-check] {doc['total_seconds']}s on {doc['gpu'] or 'no GPU'}; JSON: {out}")
sys.exit(1 if doc["failed"] else 0)
PY
