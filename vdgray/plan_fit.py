"""Fail at once, with the keys to change, when a stage's Ray plan cannot be scheduled.

Why: Ray Data reserves each actor pool's resources for the whole run, and Ray Train waits for
its whole worker group. On a fixed-size cluster (the local Ray a command starts) a plan that
needs more than the cluster has never starts and never fails: the job sits there, and only a
Ray log line ("The Dataset job will hang") says why. Every stage that runs Ray Data or Ray
Train checks its plan here before it executes. A cluster joined by address is not checked:
it may autoscale past its current size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from vdgray.errors import ConfigError

# What Ray gives a task that does not say: Ray Data's repartition and write tasks.
DEFAULT_TASK_CPUS = 1.0


@dataclass(frozen=True)
class Plan:
    """The least a plan holds at once: its actor pools at their minimum size (held for the
    whole run) plus the largest task that must still get scheduled beside them."""

    actors: dict[str, float]  # pool name -> CPUs it holds
    tasks: dict[str, float] = field(default_factory=dict)  # task kind -> CPUs of one task
    gpus: dict[str, float] = field(default_factory=dict)  # part name -> GPUs it holds

    @property
    def cpus(self) -> float:
        return sum(self.actors.values()) + max(self.tasks.values(), default=0.0)

    def detail(self) -> str:
        parts = [f"{name} {cpus:g}" for name, cpus in self.actors.items()]
        if self.tasks:
            name, cpus = max(self.tasks.items(), key=lambda kv: kv[1])
            parts.append(f"one {name} task {cpus:g}")
        return " + ".join(parts)


def require(what: str, need: float, have: float, detail: str, keys: str,
            unit: str = "CPUs") -> None:
    """Raise ConfigError when `need` exceeds `have` (the plan would wait forever)."""
    if need <= have + 1e-9:
        return
    key = "ray.num_gpus" if unit == "GPUs" else "ray.num_cpus"
    raise ConfigError(
        f"{what}: its Ray plan needs at least {need:g} {unit} but Ray has {have:g} ({detail}); "
        f"it would wait forever: lower {keys}, or give Ray more {unit} ({key})")


def check_plan(plan: Plan, cluster: dict[str, float], what: str, keys: str) -> None:
    """Raise ConfigError when `cluster` (Ray's resource totals) cannot schedule `plan`."""
    require(what, plan.cpus, float(cluster.get("CPU", 0.0)), plan.detail(), keys)
    if plan.gpus:
        detail = " + ".join(f"{name} {g:g}" for name, g in plan.gpus.items())
        require(what, sum(plan.gpus.values()), float(cluster.get("GPU", 0.0)), detail, keys,
                unit="GPUs")


def fixed_cluster(ray_cfg=None) -> dict[str, float] | None:
    """The running Ray's resource totals when it is a local, fixed-size cluster; None for a
    cluster joined by address (it may autoscale)."""
    import ray

    if (ray_cfg is not None and ray_cfg.address) or os.environ.get("RAY_ADDRESS"):
        return None
    return dict(ray.cluster_resources())


def check_on_ray(plan: Plan, ray_cfg, what: str, keys: str) -> None:
    """`check_plan` against the running Ray, when it is a local fixed-size cluster."""
    cluster = fixed_cluster(ray_cfg)
    if cluster is not None:
        check_plan(plan, cluster, what, keys)


def encoder_pool_plan(concurrency: int, num_cpus_per_actor: float, gpu: bool,
                      tasks: dict[str, float]) -> Plan:
    """An image-encoder actor pool (embed, index, eval) beside its read tasks and Ray Data's
    repartition and write tasks (1 CPU each)."""
    pool = f"{concurrency} encoder actor(s)"
    return Plan(actors={pool: 0.0 if gpu else concurrency * num_cpus_per_actor},
                tasks={**tasks, "repartition/write": DEFAULT_TASK_CPUS},
                gpus={pool: float(concurrency)} if gpu else {})
