"""Ray job: the VDG's training chain. `python jobs/train_vdg.py --config jobs/configs/X.yaml`.

Runs the vdg-assemble / vdg-lm / vdg-align / vdg-instruct / vdg-export stages of the pipeline
config that are listed in its `stages` (a pipeline config is required: the chain is wired there).
"""

import sys

from vdgray.jobs import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("train-vdg"))
