"""The general fail-fast check: a Ray plan that a fixed-size cluster cannot schedule is a
ConfigError naming the keys to change, before anything runs (it would wait forever)."""

from __future__ import annotations

import pytest

from vdgray.errors import ConfigError
from vdgray.plan_fit import Plan, check_plan, encoder_pool_plan


def test_actor_pools_hold_their_cpus_and_the_largest_task_needs_one_more_slot():
    plan = Plan(actors={"encoder": 1.0, "filter": 0.25}, tasks={"read": 0.5, "write": 1.0})
    assert plan.cpus == pytest.approx(2.25)
    assert plan.detail() == "encoder 1 + filter 0.25 + one write task 1"


def test_the_eval_plan_that_hung_on_one_cpu_is_refused_with_the_keys():
    """`vdgray eval -s ray.num_cpus=1`: a 1-CPU encoder actor plus the repartition task."""
    plan = encoder_pool_plan(1, 1.0, False, {})
    check_plan(plan, {"CPU": 2.0}, "out", "concurrency or num_cpus_per_actor")
    with pytest.raises(ConfigError, match=r"^out: its Ray plan needs at least 2 CPUs but Ray "
                                          r"has 1 \(1 encoder actor\(s\) 1 \+ one "
                                          r"repartition/write task 1\); it would wait forever: "
                                          r"lower concurrency or num_cpus_per_actor, or give "
                                          r"Ray more CPUs \(ray.num_cpus\)$"):
        check_plan(plan, {"CPU": 1.0}, "out", "concurrency or num_cpus_per_actor")


def test_lighter_actors_make_a_larger_pool_fit():
    with pytest.raises(ConfigError, match="needs at least 3 CPUs but Ray has 2"):
        check_plan(encoder_pool_plan(2, 1.0, False, {"read": 0.25}), {"CPU": 2.0}, "out", "k")
    check_plan(encoder_pool_plan(2, 0.5, False, {"read": 0.25}), {"CPU": 2.0}, "out", "k")


def test_gpu_actors_need_gpus_not_cpus():
    plan = encoder_pool_plan(2, 1.0, True, {"read": 0.25})
    assert plan.actors == {"2 encoder actor(s)": 0.0}
    check_plan(plan, {"CPU": 1.0, "GPU": 2.0}, "out", "concurrency")
    with pytest.raises(ConfigError, match=r"needs at least 2 GPUs but Ray has 0 .*ray.num_gpus"):
        check_plan(plan, {"CPU": 4.0}, "out", "concurrency")


def test_a_train_worker_group_larger_than_the_cluster_is_refused():
    plan = Plan(actors={"2 Ray Train worker(s)": 2.0})
    with pytest.raises(ConfigError, match=r"train-x: .*needs at least 2 CPUs but Ray has 1.*"
                                          r"lower num_workers"):
        check_plan(plan, {"CPU": 1.0}, "train-x", "num_workers")
