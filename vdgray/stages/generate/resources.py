"""CPU fit of the generate pipeline on a fixed-size (local) Ray cluster, checked before it runs.

Why: Ray Data reserves each actor pool's CPUs for the whole run, and its read and write tasks
need CPUs left over. When the actors take every CPU, the read task is never scheduled and the
job waits forever without an error. `run` calls `check_fit` first (`vdgray.plan_fit`'s check,
with this pipeline's parts), so a plan that cannot be scheduled fails at once with the keys to
change. A resumed run has the same plan as a first run: the committed ids are skipped in the
read, not by Ray Data's checkpoint filter actor (see `committed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vdgray.plan_fit import require


@dataclass(frozen=True)
class CpuPlan:
    """Least CPUs the pipeline holds at once: actor pools at their minimum size + 2 tasks (a
    read, and one of the short ones: block cutting, writes, vLLM's request and output maps)."""

    lookup: float
    generator: float
    delta_filter: float
    tasks: float

    @property
    def total(self) -> float:
        return self.lookup + self.generator + self.delta_filter + self.tasks


def cpu_plan(*, join_concurrency: int, join_num_cpus: float, num_cpus_per_actor: float) -> CpuPlan:
    """The CPU reservations of one run (with vllm, the generator is the engine's bundle)."""
    return CpuPlan(lookup=join_concurrency * join_num_cpus, generator=num_cpus_per_actor,
                   delta_filter=join_num_cpus, tasks=2 * join_num_cpus)


def check_fit(plan: CpuPlan, cluster_cpus: float, output: str) -> None:
    """Raise ConfigError when the plan cannot be scheduled on `cluster_cpus` CPUs."""
    require(output, plan.total, cluster_cpus,
            f"lookup {plan.lookup:g} + generator {plan.generator:g} + filter "
            f"{plan.delta_filter:g} + read/write {plan.tasks:g}",
            "num_cpus_per_actor or join_num_cpus")
