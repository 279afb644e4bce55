"""Ray job: the `mine` stage. `python jobs/mine.py --config jobs/configs/X.yaml [--set k=v ...]`."""

import sys

from vdgray.jobs import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("mine"))
