"""What a trainer needs to go through failures, without Ray running: the random state saved in a
checkpoint continues the same draws, the health-check settings reach Ray Train's environment,
and they are every trainer's config keys."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from vdgray.config_help import section
from vdgray.stages.train_cir import TrainCirConfig
from vdgray.stages.train_encoder import TrainEncoderConfig
from vdgray.stages.train_vdg import TrainVdgConfig
from vdgray.train.ray_run import (
    HEALTH_CHECK_INTERVAL_ENV,
    HEALTH_CHECK_TIMEOUT_ENV,
    WORKER_START_TIMEOUT_ENV,
    TrainRunConfig,
    environment,
)
from vdgray.train.worker import rng_state, set_rng_state

KEYS = ("max_failures", "health_check_interval_s", "health_check_timeout_s",
        "worker_start_timeout_s")


def _draws(gen: torch.Generator) -> tuple:
    return (torch.rand(3).tolist(), torch.randperm(10, generator=gen).tolist(),
            np.random.rand(2).tolist(), random.random())


def test_a_saved_random_state_continues_the_same_draws():
    torch.manual_seed(5)
    gen = torch.Generator().manual_seed(7)
    _draws(gen)  # an epoch consumed before the checkpoint
    saved = rng_state({"loader": gen})
    expected = _draws(gen)
    torch.manual_seed(0)  # a restarted worker: fresh seeds, its own generator
    np.random.seed(0)
    random.seed(0)
    gen2 = torch.Generator().manual_seed(7)
    set_rng_state(saved, {"loader": gen2})
    assert _draws(gen2) == expected


def test_health_check_settings_are_set_for_the_run_then_put_back(monkeypatch):
    class _Cfg(TrainRunConfig):
        output: str

    monkeypatch.setenv(HEALTH_CHECK_TIMEOUT_ENV, "7")
    monkeypatch.delenv(HEALTH_CHECK_INTERVAL_ENV, raising=False)
    env = _Cfg(output="/tmp/m", health_check_timeout_s=900, health_check_interval_s=1.5,
               worker_start_timeout_s=30).train_env()
    assert env == {HEALTH_CHECK_TIMEOUT_ENV: "900.0", HEALTH_CHECK_INTERVAL_ENV: "1.5",
                   WORKER_START_TIMEOUT_ENV: "30.0"}
    with environment(env):
        assert os.environ[HEALTH_CHECK_TIMEOUT_ENV] == "900.0"
        assert os.environ[HEALTH_CHECK_INTERVAL_ENV] == "1.5"
    assert os.environ[HEALTH_CHECK_TIMEOUT_ENV] == "7"
    assert HEALTH_CHECK_INTERVAL_ENV not in os.environ


def test_the_variables_are_the_ones_ray_train_reads_and_hands_to_its_controller():
    from ray.train.v2._internal import constants as c

    assert (c.HEALTH_CHECK_INTERVAL_S_ENV_VAR, c.WORKER_HEALTH_CHECK_TIMEOUT_S_ENV_VAR,
            c.WORKER_GROUP_START_TIMEOUT_S_ENV_VAR) == (
        HEALTH_CHECK_INTERVAL_ENV, HEALTH_CHECK_TIMEOUT_ENV, WORKER_START_TIMEOUT_ENV), (
        "Ray Train renamed its health-check variables: update vdgray/train/ray_run.py")
    assert {HEALTH_CHECK_INTERVAL_ENV, HEALTH_CHECK_TIMEOUT_ENV,
            WORKER_START_TIMEOUT_ENV} <= c.ENV_VARS_TO_PROPAGATE
    assert isinstance(c.ENV_VARS_TO_PROPAGATE, set)  # own_cluster_env adds RAY_ADDRESS to it


@pytest.mark.parametrize("config", [TrainCirConfig, TrainEncoderConfig, TrainVdgConfig])
def test_every_trainer_has_the_failure_keys_in_its_help(config):
    text = section(config)
    for key in KEYS:
        assert key in text, f"{config.__name__} --help lacks {key}"
    assert config.model_fields["max_failures"].default == 3
