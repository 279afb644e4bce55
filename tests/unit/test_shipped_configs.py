"""Every shipped YAML (job configs and demo presets) is a valid pipeline config, stage by stage."""


import pytest
from helpers.paths import ROOT

from vdgray.config import load_config
from vdgray.pipeline import PipelineConfig, stage_config

SHIPPED = sorted((ROOT / "jobs" / "configs").glob("*.yaml")) + sorted(
    (ROOT / "vdgray" / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    names = {p.name for p in SHIPPED}
    assert {"demo.yaml", "cirr.yaml", "fashioniq.yaml", "scale.yaml", "demo-tiny.yaml",
            "demo-default.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_validates(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# "), f"{path.name} must start with the command that runs it"
    cfg = load_config(PipelineConfig, path)
    for stage in cfg.stages:
        stage_config(cfg, stage)


def test_a_typo_in_stage_settings_is_named(tmp_path):
    from vdgray.errors import ConfigError

    p = tmp_path / "c.yaml"
    p.write_text("output: /tmp/x\nstages: [synth]\nsettings:\n  synth: {n_galery: 3}\n")
    cfg = load_config(PipelineConfig, p)
    with pytest.raises(ConfigError, match=r"pipeline settings.synth: key n_galery: unknown key"):
        stage_config(cfg, "synth")


def test_stage_order_and_names_are_checked():
    from vdgray.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown stage"):
        load_config(PipelineConfig, None, ["output=/tmp/x", "stages=[synth, nope]"])
    with pytest.raises(ConfigError, match="pipeline order"):
        load_config(PipelineConfig, None, ["output=/tmp/x", "stages=[mine, synth]"])
