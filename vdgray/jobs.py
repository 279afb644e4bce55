"""Entry points for Ray job scripts (`jobs/*.py`): parse `--config/--set` and call a stage.

The scripts under jobs/ are three lines each and call these, so a job submitted with
`ray job submit -- python jobs/embed.py --config ...` runs exactly the CLI's code path.
"""

from __future__ import annotations

import argparse
import sys

from vdgray.config import load_config
from vdgray.errors import VdgrayError
from vdgray.pipeline import STAGES, PipelineConfig, run_pipeline


def _parse(argv, prog: str):
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--config", "-c", help="YAML config file")
    ap.add_argument("--set", "-s", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="override a config value (repeatable)")
    return ap.parse_args(argv)


def _guard(fn) -> int:
    try:
        fn()
    except VdgrayError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def stage_main(stage: str, argv: list[str] | None = None) -> int:
    """Run one stage from a YAML config plus overrides (a Ray job's entry point)."""
    args = _parse(argv, f"jobs/{stage.replace('-', '_')}.py")
    cls, run = STAGES[stage].load()
    return _guard(lambda: run(load_config(cls, args.config, args.overrides)))


def pipeline_main(argv: list[str] | None = None) -> int:
    """Run the whole pipeline (finished stages are skipped, so re-submission resumes)."""
    args = _parse(argv, "jobs/pipeline.py")
    return _guard(lambda: run_pipeline(load_config(PipelineConfig, args.config, args.overrides)))
