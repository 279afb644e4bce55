"""Ray job: the whole pipeline. `python jobs/pipeline.py --config jobs/configs/demo.yaml`.

Idempotent: stages whose output already has a manifest are skipped on re-submission.
"""

import sys

from vdgray.jobs import pipeline_main

if __name__ == "__main__":
    sys.exit(pipeline_main())
