#!/usr/bin/env bash
# Set up (idempotent, base install) and run `vdgray demo` on the built-in synthetic world.
# Every argument goes to the demo, e.g. `bash scripts/demo.sh --size tiny`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
vdgray_setup
exec vdgray demo "$@"
