#!/usr/bin/env bash
# Set up (idempotent, with the test extras) and run the whole test suite: unit, integration
# (local Ray, loopback S3 server, Ray Serve over HTTP) and gpu (skipped without CUDA).
# Every argument goes to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
vdgray_setup dev
export RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
exec python -m pytest "$@"
