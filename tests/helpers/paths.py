"""Where the repository and the environment's console scripts are, for tests that read shipped
files (README, configs, manifests) or run `vdgray`/`ray` as a user does."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
