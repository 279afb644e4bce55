"""Ray job: the `train-cir` stage. `python jobs/train_cir.py --config jobs/configs/X.yaml [--set k=v ...]`.

The config is the stage's own config or a whole pipeline config (then only this job's stages run).
Generated from vdgray.stages.table (python -m vdgray.stages.table --write-jobs).
"""

import sys

from vdgray.jobs import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("train-cir"))
