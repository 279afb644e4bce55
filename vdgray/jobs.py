"""Entry points for Ray job scripts (`jobs/*.py`): parse `--config/--set` and call a stage.

The scripts under jobs/ are three lines each and call these, so a job submitted with
`ray job submit -- python jobs/embed.py --config ...` runs exactly the CLI's code path.
A stage script takes either that stage's own config or a whole pipeline config (a YAML with
`stages:`); given a pipeline config it runs just its stage (or its group of stages, e.g.
train-vdg = the VDG chain) of that pipeline, wired to the pipeline's other outputs, which is
how the per-stage RayJobs share `jobs/configs/scale.yaml` with `jobs/pipeline.py`.
"""

from __future__ import annotations

import argparse

import yaml

from vdgray.config import load_config
from vdgray.error_report import guard
from vdgray.errors import ConfigError
from vdgray.pipeline import JOB_GROUPS, STAGES, PipelineConfig, run_pipeline


def _parse(argv, prog: str):
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--config", "-c", help="YAML config file")
    ap.add_argument("--set", "-s", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="override a config value (repeatable)")
    return ap.parse_args(argv)


def _is_pipeline_config(path: str | None) -> bool:
    if not path:
        return False
    from vdgray import storage

    try:
        doc = yaml.safe_load(storage.read_bytes(path))
    except yaml.YAMLError:
        return False  # load_config reports it with the line
    return isinstance(doc, dict) and "stages" in doc


def _run_stages_of_pipeline(name: str, path: str, overrides: list[str]) -> None:
    cfg = load_config(PipelineConfig, path, overrides)
    wanted = JOB_GROUPS.get(name, (name,))
    stages = [s for s in cfg.stages if s in wanted]
    if not stages:
        raise ConfigError(f"{path}: stages {cfg.stages} include none of {list(wanted)} "
                          f"(the stages of job {name})")
    run_pipeline(cfg, only=stages)


def stage_main(stage: str, argv: list[str] | None = None) -> int:
    """Run one stage (or job group) from a YAML config plus overrides (a Ray job's entry)."""
    args = _parse(argv, f"jobs/{stage.replace('-', '_')}.py")

    def go():
        if stage in JOB_GROUPS or _is_pipeline_config(args.config):
            return _run_stages_of_pipeline(stage, args.config, args.overrides)
        cls, run = STAGES[stage].load()
        return run(load_config(cls, args.config, args.overrides))

    return guard(go)


def pipeline_main(argv: list[str] | None = None) -> int:
    """Run the whole pipeline (finished stages are skipped, so re-submission resumes)."""
    args = _parse(argv, "jobs/pipeline.py")
    return guard(lambda: run_pipeline(load_config(PipelineConfig, args.config, args.overrides)))
