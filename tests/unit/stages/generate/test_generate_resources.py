"""The generate stage's CPU fit check: plans that would leave no CPU for read/write tasks fail."""

from __future__ import annotations

import pytest

from vdgray.errors import ConfigError
from vdgray.stages.generate.resources import check_fit, cpu_plan


def _plan(**kw):
    base = {"join_concurrency": 1, "join_num_cpus": 0.25, "num_cpus_per_actor": 1.0}
    return cpu_plan(**{**base, **kw})


def test_defaults_fit_two_cpus_first_run_and_resume_alike():
    plan = _plan()
    assert plan.total == pytest.approx(2.0)
    check_fit(plan, 2, "out")


def test_lookup_actors_and_tasks_are_counted():
    plan = _plan(join_concurrency=4)
    assert plan.lookup == 1.0 and plan.tasks == 0.5
    with pytest.raises(ConfigError, match=r"out: .*needs at least 2.75 CPUs but Ray has 2.*"
                                          r"lookup 1 \+ generator 1 \+ filter 0.25"):
        check_fit(plan, 2, "out")


def test_the_generator_is_counted_whatever_its_backend():
    # a vLLM engine's bundle is num_cpus_per_actor CPUs, as a transformers actor's
    assert _plan(num_cpus_per_actor=0.5).generator == 0.5
