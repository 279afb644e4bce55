"""Ray job: the `embed` stage. `python jobs/embed.py --config jobs/configs/X.yaml [--set k=v ...]`."""

import sys

from vdgray.jobs import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("embed"))
