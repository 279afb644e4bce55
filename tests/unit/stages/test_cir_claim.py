"""cir-claim: config checks, the mean ± std / gap summary and its table (no training here)."""

import pytest

from vdgray.errors import ConfigError
from vdgray.stages.cir_claim import ClaimConfig, format_table, summarise, train_config

BASE = {"world": "/w", "triplets": "/t", "gallery": "/g", "encoder": "tiny-clip", "output": "/o"}


def test_summary_means_stds_and_gaps_per_seed():
    sup = [{"recall@1": 10.0, "recall@5": 30.0}, {"recall@1": 12.0, "recall@5": 34.0}]
    semi = [{"recall@1": 15.0, "recall@5": 29.0}, {"recall@1": 17.0, "recall@5": 36.0}]
    s = summarise({"supervised": sup, "semi-supervised": semi}, [0, 1])
    assert s["keys"] == ["recall@1", "recall@5"]
    assert s["variants"]["supervised"]["recall@1"] == {"mean": 11.0, "std": 1.0,
                                                       "per_seed": [10.0, 12.0]}
    assert s["gap"]["recall@1"]["per_seed"] == [5.0, 5.0]
    assert s["gap"]["recall@1"]["wins"] == 2
    assert s["gap"]["recall@5"]["per_seed"] == [-1.0, 2.0]
    assert s["gap"]["recall@5"]["wins"] == 1
    table = format_table(s)
    assert "gap (semi − sup)" in table and "+5.00" in table and "1/2" in table


def test_each_run_is_wired_to_its_own_output_and_data():
    cfg = ClaimConfig(**BASE, seeds=[3], train={"epochs": 2, "pseudo_ratio": 2.0})
    sup = train_config(cfg, "supervised", 3)
    semi = train_config(cfg, "semi-supervised", 3)
    assert sup.pseudo == "none" and semi.pseudo == "/t" and semi.pseudo_gallery == "/g"
    assert sup.output == "/o/supervised-seed3/model" != semi.output
    assert sup.seed == semi.seed == 3 and sup.epochs == 2 and semi.pseudo_ratio == 2.0
    assert sup.model.encoder == "tiny-clip"


def test_bad_train_setting_names_the_key():
    cfg = ClaimConfig(**BASE, train={"epochs": 0})
    with pytest.raises(ConfigError, match="train.*epochs"):
        train_config(cfg, "supervised", 0)


@pytest.mark.parametrize("extra, match", [({"train": {"pseudo": "/x"}}, "set by cir-claim"),
                                          ({"seeds": [1, 1]}, "repeats")])
def test_conflicting_settings_are_rejected(extra, match):
    with pytest.raises(ValueError, match=match):
        ClaimConfig(**BASE, **extra)
