"""The generate stage's CPU fit check: plans that would leave no CPU for read/write tasks fail."""

from __future__ import annotations

import pytest

from vdgray.errors import ConfigError
from vdgray.stages.generate_resources import check_fit, cpu_plan


def _plan(resuming: bool, **kw):
    base = {"join_concurrency": 1, "join_num_cpus": 0.25, "num_cpus_per_actor": 1.0,
            "resuming": resuming}
    return cpu_plan(**{**base, **kw})


def test_defaults_fit_two_cpus_on_a_first_run_but_not_on_resume():
    check_fit(_plan(False), 2, "out")
    with pytest.raises(ConfigError, match=r"out: .*needs at least 3 CPUs but Ray has 2.*"
                                          r"1 for Ray Data's checkpoint filter actor on resume"):
        check_fit(_plan(True), 2, "out")


def test_lighter_steps_make_a_resume_fit():
    plan = _plan(True, join_num_cpus=0.1, num_cpus_per_actor=0.5)
    assert plan.total == pytest.approx(1.9)
    check_fit(plan, 2, "out")


def test_lookup_actors_and_tasks_are_counted():
    plan = _plan(False, join_concurrency=4)
    assert plan.lookup == 1.0 and plan.tasks == 0.5 and plan.checkpoint_filter == 0
    with pytest.raises(ConfigError, match="lookup 1 \\+ generator 1 \\+ filter 0.25"):
        check_fit(plan, 2, "out")


def test_the_generator_is_counted_whatever_its_backend():
    # a vLLM engine's bundle is num_cpus_per_actor CPUs, as a transformers actor's
    assert _plan(False, num_cpus_per_actor=0.5).generator == 0.5
