"""CPU fit of the generate pipeline on a fixed-size (local) Ray cluster, checked before it runs.

Why: Ray Data reserves each actor pool's CPUs for the whole run, and its read and write tasks
need CPUs left over. When the actors take every CPU, the read task is never scheduled and the
job waits forever without an error. A resumed run is where this bites: Ray Data's checkpoint
loader adds a `CheckpointFilter` actor pool (1 CPU per actor, no setting to lower it, up to 10
actors) that a first run does not have, so settings that ran fine hang on the re-run after a
kill (the last log line is the loader's "Loading checkpoint from ...", which reads like a hang
in the S3 listing; the listing itself finishes). `run` pins that pool to one actor and calls
`check_fit` first (`vdgray.plan_fit`'s check, with this pipeline's parts), so a plan that
cannot be scheduled fails at once with the keys to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from vdgray.plan_fit import require

CHECKPOINT_FILTER_CPUS = 1.0  # Ray Data's default for an actor pool without num_cpus
CHECKPOINT_FILTER_ACTORS = 1  # run() pins the pool to this many actors


@dataclass(frozen=True)
class CpuPlan:
    """Least CPUs the pipeline holds at once: actor pools at their minimum size + 2 tasks (a
    read, and one of the short ones: block cutting, writes, vLLM's request and output maps)."""

    lookup: float
    generator: float
    delta_filter: float
    tasks: float
    checkpoint_filter: float

    @property
    def total(self) -> float:
        return self.lookup + self.generator + self.delta_filter + self.tasks + self.checkpoint_filter


def cpu_plan(*, join_concurrency: int, join_num_cpus: float, num_cpus_per_actor: float,
             resuming: bool) -> CpuPlan:
    """The CPU reservations of one run (with vllm, the generator is the engine's bundle)."""
    return CpuPlan(
        lookup=join_concurrency * join_num_cpus,
        generator=num_cpus_per_actor,
        delta_filter=join_num_cpus,
        tasks=2 * join_num_cpus,
        checkpoint_filter=CHECKPOINT_FILTER_ACTORS * CHECKPOINT_FILTER_CPUS if resuming else 0.0)


def check_fit(plan: CpuPlan, cluster_cpus: float, output: str) -> None:
    """Raise ConfigError when the plan cannot be scheduled on `cluster_cpus` CPUs."""
    extra = (f" + {plan.checkpoint_filter:g} for Ray Data's checkpoint filter actor on resume"
             if plan.checkpoint_filter else "")
    require(output, plan.total, cluster_cpus,
            f"lookup {plan.lookup:g} + generator {plan.generator:g} + filter "
            f"{plan.delta_filter:g} + read/write {plan.tasks:g}{extra}",
            "num_cpus_per_actor or join_num_cpus")
