"""`vdgray submit`: run a stage or the whole pipeline as a Ray job on an existing cluster.

A thin wrapper over `ray.job_submission.JobSubmissionClient`: it uploads the working
directory (this checkout, so `jobs/*.py` and `vdgray/` travel with it), passes the S3
variables through, prints the job id and streams the logs. The same job runs with plain
`ray job submit --working-dir . -- python jobs/pipeline.py --config ...`.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from pathlib import Path

import click

from vdgray.errors import ConfigError, VdgrayError
from vdgray.stages.table import PIPELINE_JOB, job_script_name, jobs

PASS_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
            "AWS_SESSION_TOKEN", "VDGRAY_CACHE")
EXCLUDES = [".venv", ".git", "runs", "bench-results", "**/__pycache__", "tests/assets/kuberay",
            "*.egg-info"]


def entrypoint(stage: str, config: str | None, overrides: tuple[str, ...],
               working_dir: Path) -> str:
    """The job's shell command, with the config path relative to the uploaded directory."""
    script = job_script_name(stage)
    if not (working_dir / "jobs" / script).is_file():
        raise ConfigError(f"{working_dir}: no jobs/{script} (run from a vdgray checkout or pass "
                          "--working-dir)")
    argv = ["python", f"jobs/{script}"]
    if config:
        cfg = Path(config).resolve()
        if not cfg.is_file():
            raise ConfigError(f"config file {config}: not found")
        try:
            rel = cfg.relative_to(working_dir.resolve())
        except ValueError:
            raise ConfigError(f"config file {config}: must be inside the working directory "
                              f"{working_dir} (it is uploaded with it)") from None
        argv += ["--config", str(rel)]
    for o in overrides:
        argv += ["--set", o]
    return shlex.join(argv)


def runtime_env(working_dir: Path, pip: tuple[str, ...] = ()) -> dict:
    env = {k: os.environ[k] for k in PASS_ENV if os.environ.get(k)}
    # The driver script imports vdgray from the uploaded checkout.
    env["PYTHONPATH"] = "."
    out: dict = {"working_dir": str(working_dir), "excludes": EXCLUDES, "env_vars": env}
    if pip:
        out["pip"] = list(pip)
    return out


def submit(address: str, stage: str, config: str | None = None, overrides: tuple[str, ...] = (),
           working_dir: str = ".", num_cpus: float | None = None, num_gpus: float | None = None,
           pip: tuple[str, ...] = (), wait: bool = True) -> tuple[str, str | None]:
    """Submit the job; with `wait`, stream its logs and return (job id, final status)."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    wd = Path(working_dir).resolve()
    cmd = entrypoint(stage, config, overrides, wd)
    try:
        client = JobSubmissionClient(address)
    except Exception as e:
        raise VdgrayError(f"cannot reach the Ray dashboard at {address}: {e}") from None
    job_id = _submit_with_retry(client, entrypoint=cmd, runtime_env=runtime_env(wd, pip),
                                entrypoint_num_cpus=num_cpus, entrypoint_num_gpus=num_gpus,
                                metadata={"vdgray_stage": stage})
    click.echo(f"submitted job {job_id}: {cmd}")
    if not wait:
        return job_id, None

    async def _tail():
        async for lines in client.tail_job_logs(job_id):
            click.echo(lines, nl=False)

    asyncio.run(_tail())
    status = client.get_job_status(job_id)
    while status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        time.sleep(1)
        status = client.get_job_status(job_id)
    return job_id, str(status.value if hasattr(status, "value") else status)


def _submit_with_retry(client, attempts: int = 20, delay_s: float = 3.0, **kwargs) -> str:
    """Submit, retrying while a freshly started head has no job agent yet."""
    for i in range(attempts):
        try:
            return client.submit_job(**kwargs)
        except RuntimeError as e:
            if "No available agent" not in str(e) or i == attempts - 1:
                raise VdgrayError(f"job submission failed: {e}") from None
            time.sleep(delay_s)
    raise AssertionError("unreachable")


@click.command("submit")
@click.argument("stage", type=click.Choice([PIPELINE_JOB, *jobs()]))
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config inside the working directory.")
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--address", default=lambda: os.environ.get("RAY_ADDRESS", "http://127.0.0.1:8265"),
              show_default="$RAY_ADDRESS or http://127.0.0.1:8265",
              help="The cluster's dashboard (job server) address.")
@click.option("--working-dir", default=".", show_default=True,
              help="Directory uploaded with the job (a vdgray checkout).")
@click.option("--num-cpus", type=float, default=None, help="CPUs reserved for the job driver.")
@click.option("--num-gpus", type=float, default=None, help="GPUs reserved for the job driver.")
@click.option("--pip", multiple=True, help="Extra pip requirements for the job's runtime env.")
@click.option("--no-wait", is_flag=True, help="Print the job id and return.")
def command(stage, config_path, overrides, address, working_dir, num_cpus, num_gpus, pip,
            no_wait):
    """Submit a stage (or `pipeline`) as a Ray job, print its id and stream its logs."""
    job_id, status = submit(address, stage, config_path, overrides, working_dir, num_cpus,
                            num_gpus, pip, wait=not no_wait)
    if status is not None:
        click.echo(f"job {job_id}: {status}")
        if status != "SUCCEEDED":
            raise click.exceptions.Exit(1)
