#!/usr/bin/env bash
# Set up (idempotent) and run `vdgray demo` on the built-in synthetic world. Extra args go to
# the demo, e.g. `bash scripts/demo.sh --size tiny`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec vdgray demo "$@"
