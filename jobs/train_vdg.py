"""Ray job: the stages `vdg-assemble`, `vdg-lm`, `vdg-align`, `vdg-instruct`, `vdg-export`. `python jobs/train_vdg.py --config jobs/configs/X.yaml [--set k=v ...]`.

The config is a whole pipeline config (the stages are wired there); the stages of it listed in `stages` run.
Generated from vdgray.stages.table (python -m vdgray.stages.table --write-jobs).
"""

import sys

from vdgray.jobs import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("train-vdg"))
