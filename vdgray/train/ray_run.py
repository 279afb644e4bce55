"""What every vdgray trainer shares with Ray Train: where runs live, how they fail and resume.

The encoder, VDG and CIR trainers each build a `TorchTrainer` the same way: checkpoints under
a storage URI (local or s3://) in a run named after the output, `FailureConfig` retries with
the health-check tolerances of `TrainRunConfig` (docs/clusters.md, "Training through failures"), and
a re-run with the same name resuming from the latest checkpoint. `fit` lets a worker's user
error (a `VdgrayError` under Ray's wrapper) through as that error, one line; any other
failure keeps Ray's error, whose text holds the worker's traceback, noted with the run to
re-run.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from pydantic import Field

from vdgray import storage
from vdgray.config import StageConfig, Uri, UseGpu
from vdgray.errors import VdgrayError, innermost
from vdgray.runtime import RayConfig, resolve_use_gpu

# Read by Ray Train V2's controller (the interval) and its worker group (the timeouts), in the
# controller's process; the driver's values reach it through `ENV_VARS_TO_PROPAGATE`.
HEALTH_CHECK_INTERVAL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
HEALTH_CHECK_TIMEOUT_ENV = "RAY_TRAIN_WORKER_HEALTH_CHECK_TIMEOUT_S"
WORKER_START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"
RAY_ADDRESS_ENV = "RAY_ADDRESS"


def default_run_storage(output: str) -> str:
    """`<output's parent>/ray-train`: checkpoints next to the final artefacts."""
    return storage.join(storage.parent(output), "ray-train")


class TrainRunConfig(StageConfig):
    """Settings every Ray Train stage shares: workers, GPUs, checkpoint storage, resume.

    A subclass has an `output` URI; `default_run_name` names the run when `name` is unset."""

    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP ranks).")
    use_gpu: UseGpu = Field(False, description="One GPU per worker: false, true, or auto (when the cluster has GPUs).")
    torch_threads: int | None = Field(None, ge=1, description="torch threads per worker (default: CPUs / workers).")
    storage_path: Uri | None = Field(None, description="Ray Train storage (checkpoints); default: <output's parent>/ray-train.")
    name: str | None = Field(None, description="Ray Train run name; re-run with the same name to resume (default: from the output's name).")
    max_failures: int = Field(3, ge=-1, description="Worker-group failures (a worker or its node lost, a failed health check, an error in the loop) to recover from, each by restarting every worker from the latest checkpoint; -1: no limit, 0: fail at the first (Ray Train FailureConfig.max_failures).")
    health_check_interval_s: float = Field(2.0, gt=0, description="Seconds between the Train controller's polls of the workers (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S); a reported checkpoint waits up to one interval to be taken.")
    health_check_timeout_s: float = Field(600.0, gt=0, description="Seconds a worker may leave a health-check poll unanswered (busy, swapping, starved of CPU) before Train marks it dead and restarts the group (RAY_TRAIN_WORKER_HEALTH_CHECK_TIMEOUT_S).")
    worker_start_timeout_s: float = Field(120.0, gt=0, description="Seconds the worker group may take to get its resources and start (a restart after a node loss waits here for room) before Train retries the start (RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S).")
    overwrite: bool = Field(False, description="Retrain even if `output` holds a finished model.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start.")

    def default_run_name(self) -> str:
        return self.output.rsplit("/", 1)[-1] or "run"

    def run_storage(self) -> str:
        return self.storage_path or default_run_storage(self.output)

    def run_name(self) -> str:
        return self.name or self.default_run_name()

    def run_config(self):
        return run_config(self.run_storage(), self.run_name(), self.max_failures)

    def train_env(self) -> dict[str, str]:
        """The Ray Train settings that Ray 2.60 reads only from the environment: set in the
        driver while `fit` runs, Train hands them to its controller and workers."""
        return {HEALTH_CHECK_INTERVAL_ENV: str(self.health_check_interval_s),
                HEALTH_CHECK_TIMEOUT_ENV: str(self.health_check_timeout_s),
                WORKER_START_TIMEOUT_ENV: str(self.worker_start_timeout_s)}


def run_config(storage_uri: str, name: str, max_failures: int, keep: int = 2):
    """A Ray Train `RunConfig` on local disk or S3 (through vdgray's pyarrow filesystem)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig

    if storage.is_s3(storage_uri):
        fs, path = storage.filesystem(storage_uri)
        where = {"storage_path": path, "storage_filesystem": fs}
    else:
        where = {"storage_path": str(Path(storage_uri).absolute())}
    return RunConfig(name=name, failure_config=FailureConfig(max_failures=max_failures),
                     checkpoint_config=CheckpointConfig(num_to_keep=keep), **where)


def torch_threads(requested: int | None, num_workers: int) -> int:
    """Threads per worker: as configured, else the cluster's CPUs shared by the workers."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    return requested or max(1, cpus // num_workers)


def own_cluster_env() -> dict[str, str]:
    """RAY_ADDRESS = the cluster this driver is on, handed to the Train controller.

    The controller starts a `PlacementGroupCleaner` that asks Ray's state API every second
    whether the controller is alive, and removes the run's placement group (killing every
    worker: "A worker health check failed") when the answer is no. Without RAY_ADDRESS it
    finds "the" API server by auto-detection: the Ray instance started last on that machine,
    which on a machine shared by several Ray instances is another cluster, one that does not
    know the controller. With our own address it asks our cluster, or (a local Ray without a
    dashboard) nobody, and then never removes a live run's workers."""
    import ray
    from ray.train.v2._internal import constants

    constants.ENV_VARS_TO_PROPAGATE.add(RAY_ADDRESS_ENV)  # driver -> controller (-> cleaner)
    return {RAY_ADDRESS_ENV: ray.get_runtime_context().gcs_address}


@contextmanager
def environment(env: dict[str, str]):
    """`env` in os.environ for the block, then each variable as it was."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fit(loop, loop_config: dict, *, num_workers: int, use_gpu: UseGpu, run, what: str,
        ray_cfg: RayConfig | None = None, env: dict[str, str] | None = None):
    """Run a `TorchTrainer` to the end; return its result, which must carry a checkpoint.

    The worker group must fit a local Ray (else it would wait forever); the loop's epoch
    lines reach the terminal through `loop_config["progress"]`; `env` (Ray Train settings
    read from the environment, `TrainRunConfig.train_env`) is set while the run lasts."""
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    from vdgray.console import progress_channel
    from vdgray.plan_fit import Plan, check_on_ray

    use_gpu = resolve_use_gpu(use_gpu)
    workers = {f"{num_workers} Ray Train worker(s)": float(num_workers)}
    check_on_ray(Plan(actors={} if use_gpu else workers, gpus=workers if use_gpu else {}),
                 ray_cfg, what, "num_workers")
    with progress_channel() as progress:
        trainer = TorchTrainer(
            loop, train_loop_config={**loop_config, "progress": progress},
            scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                         resources_per_worker=None if use_gpu else {"CPU": 1}),
            run_config=run,
        )
        try:
            with environment({**own_cluster_env(), **(env or {})}):
                result = trainer.fit()
        except Exception as e:  # Ray's WorkerGroupError wraps the worker's exception
            cause = innermost(e)
            if isinstance(cause, VdgrayError):
                raise cause from None
            e.add_note(f"{what}: training failed; re-run with name={run.name} to resume "
                       "from its last checkpoint")
            raise
    if result.checkpoint is None:
        raise VdgrayError(f"{what}: run {run.name} produced no checkpoint")
    return result


def numeric_metrics(result) -> dict:
    return {k: v for k, v in (result.metrics or {}).items() if isinstance(v, int | float)}
