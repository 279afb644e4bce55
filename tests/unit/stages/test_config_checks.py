"""Config checks live in the config validators, so every entry point gets them: the click
command, `run_pipeline` (stage_config) and the job scripts (load_config)."""

import pytest

from vdgray.config import load_config
from vdgray.errors import ConfigError
from vdgray.pipeline import PipelineConfig, stage_config
from vdgray.stages.train_cir import TrainCirConfig
from vdgray.stages.train_encoder import TrainEncoderConfig
from vdgray.stages.train_vdg import TrainVdgConfig


def pipeline(stage, **settings):
    over = ["output=/runs/p", f"stages=[{stage}]", "vdg=/models/llava"]
    return load_config(PipelineConfig, None,
                       over + [f"settings.{stage}.{k}={v}" for k, v in settings.items()])


def test_train_encoder_output_must_differ_from_world():
    with pytest.raises(ConfigError, match="output: must differ from world"):
        load_config(TrainEncoderConfig, None, ["world=/data/w", "output=/data/w"])
    with pytest.raises(ConfigError, match="settings.train-encoder.*output: must differ from world"):
        stage_config(pipeline("train-encoder", output="/runs/p/world"), "train-encoder")
    assert load_config(TrainEncoderConfig, None, ["world=/data/w", "output=/data/m"]).output


def test_train_vdg_output_must_differ_from_world():
    base = ["stage=lm", "model=/data/assembled"]
    with pytest.raises(ConfigError, match="output: must differ from world"):
        load_config(TrainVdgConfig, None, [*base, "world=/data/w", "output=/data/w"])
    with pytest.raises(ConfigError, match="settings.vdg-lm.*output: must differ from world"):
        stage_config(pipeline("vdg-lm", output="/runs/p/world"), "vdg-lm")
    assert load_config(TrainVdgConfig, None, [*base, "world=/data/w", "output=/data/v"]).output


def test_train_cir_output_must_differ_from_human_root():
    with pytest.raises(ConfigError, match="output: must differ from human.root"):
        load_config(TrainCirConfig, None, ["human.root=/data/cirr", "output=/data/cirr",
                                           "model.encoder=tiny-clip"])
    with pytest.raises(ConfigError, match="settings.train-cir.*output: must differ from human.root"):
        stage_config(pipeline("train-cir", output="/runs/p/world"), "train-cir")
    assert load_config(TrainCirConfig, None, ["human.root=/data/cirr", "output=/data/m",
                                              "model.encoder=tiny-clip"]).output


def test_eval_format_auto_is_checked_once_the_root_says_what_it_holds():
    from helpers.assets import CIRR_TINY, FASHIONIQ_TINY

    from vdgray.errors import ConfigError
    from vdgray.stages.eval_cir import EvalData

    assert EvalData(root=str(CIRR_TINY), split="test1").resolved().format == "cirr"
    with pytest.raises(ConfigError, match=r"data.split: fashioniq splits are \('val', 'test'\), "
                                          r"got 'test1' \(.*fashioniq_tiny holds fashioniq\)"):
        EvalData(root=str(FASHIONIQ_TINY), split="test1").resolved()
    with pytest.raises(ConfigError, match="data.categories: only for FashionIQ"):
        EvalData(root=str(CIRR_TINY), categories=["dress"]).resolved()
