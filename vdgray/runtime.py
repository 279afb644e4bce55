"""Starting or joining Ray from a stage, never at import time."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from vdgray.config import UseGpu


class RayConfig(BaseModel):
    """Where the stage runs: an existing cluster (`address`) or a local one it starts."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None, description="Ray cluster address ('auto', 'ray://host:10001'); None starts a local Ray."
    )
    num_cpus: int | None = Field(
        None, ge=1, description="CPUs of a locally started Ray (default: all of this machine's)."
    )
    num_gpus: int | None = Field(None, ge=0, description="GPUs of a locally started Ray.")
    object_store_memory: int | None = Field(
        None, ge=78_643_200, description="Object store bytes of a locally started Ray."
    )


def keep_task_exceptions() -> None:
    """Ray Data raises a map task's own exception (by default it raises a `UserCodeException`
    that loses it), so a `VdgrayError` in a task stays a one-line user error and a bug shows
    its own traceback (`vdgray.error_report`)."""
    import ray.data

    ray.data.DataContext.get_current().raise_original_map_exception = True


def ensure_ray(cfg: RayConfig | None = None) -> None:
    """Connect to the configured cluster, or start a local Ray, unless Ray is already up."""
    import ray

    from vdgray.console import quiet_libraries, ray_init_kwargs

    keep_task_exceptions()
    if ray.is_initialized():
        return
    cfg = cfg or RayConfig()
    address = cfg.address or os.environ.get("RAY_ADDRESS") or None
    quiet_libraries()
    kwargs: dict = ray_init_kwargs()
    if address:
        ray.init(address=address, **kwargs)
        return
    kwargs["include_dashboard"] = False
    if cfg.num_cpus is not None:
        kwargs["num_cpus"] = cfg.num_cpus
    if cfg.num_gpus is not None:
        kwargs["num_gpus"] = cfg.num_gpus
    if cfg.object_store_memory is not None:
        kwargs["object_store_memory"] = cfg.object_store_memory
    # "local" starts a fresh cluster; plain ray.init() would join whatever `ray start` left
    # running on this machine, with other resources than asked for.
    ray.init(address="local", **kwargs)


def cluster_gpus() -> float | None:
    """GPUs of the Ray cluster this process is connected to; None when Ray is not up here."""
    import ray

    if not ray.is_initialized():
        return None
    return float(ray.cluster_resources().get("GPU", 0.0))


def resolve_use_gpu(setting: UseGpu, gpus: float | None = None) -> bool:
    """The one meaning of a `UseGpu` setting: auto = the Ray cluster has a GPU (or `gpus`,
    where a narrower count applies: FAISS also needs a faiss build with GPU support).

    true always asks for GPUs: on a fixed-size local Ray without them the stage's plan check
    (`plan_fit`) fails fast, and a cluster joined by address may autoscale to them."""
    if setting != "auto":
        return bool(setting)
    if gpus is None:
        gpus = cluster_gpus()
    return gpus is not None and gpus >= 1
