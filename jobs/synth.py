"""Ray job: the `synth` stage. `python jobs/synth.py --config jobs/configs/X.yaml [--set k=v ...]`."""

import sys

from vdgray.jobs import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("synth"))
