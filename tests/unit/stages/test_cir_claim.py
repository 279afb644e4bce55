"""cir-claim: config checks, the three-variant summary (gaps, share of the oracle's gain) and
its table (no training here)."""

import pytest

from vdgray import manifest, storage
from vdgray.errors import ConfigError
from vdgray.layout import TRUTH, TRUTH_STAGE
from vdgray.stages.cir_claim import ClaimConfig, format_table, headline, summarise, train_config

BASE = {"world": "/w", "triplets": "/t", "gallery": "/g", "encoder": "tiny-clip", "output": "/o"}
SUP = [{"recall@1": 10.0, "recall@5": 30.0}, {"recall@1": 12.0, "recall@5": 34.0}]
SEMI = [{"recall@1": 15.0, "recall@5": 29.0}, {"recall@1": 17.0, "recall@5": 36.0}]
ORACLE = [{"recall@1": 20.0, "recall@5": 40.0}, {"recall@1": 22.0, "recall@5": 34.0}]


def test_summary_means_sample_stds_and_gaps_per_seed():
    s = summarise({"supervised": SUP, "semi-supervised": SEMI}, [0, 1])
    assert s["keys"] == ["recall@1", "recall@5"]
    sup = s["variants"]["supervised"]["recall@1"]
    assert sup["mean"] == 11.0 and sup["per_seed"] == [10.0, 12.0]
    assert sup["std"] == pytest.approx(2 ** 0.5)  # sample std (ddof=1)
    gap = s["gap"]["semi-supervised"]
    assert gap["recall@1"]["per_seed"] == [5.0, 5.0] and gap["recall@1"]["wins"] == 2
    assert gap["recall@5"]["per_seed"] == [-1.0, 2.0] and gap["recall@5"]["wins"] == 1
    assert "share" not in s
    table = format_table(s)
    assert "gap (semi − sup)" in table and "+5.00" in table and "1/2" in table
    assert "share" not in table


def test_summary_with_the_oracle_gives_its_gap_and_the_share_the_vdg_recovers():
    s = summarise({"supervised": SUP, "semi-supervised": SEMI, "oracle": ORACLE}, [0, 1])
    assert list(s["variants"]) == ["supervised", "semi-supervised", "oracle"]
    assert s["gap"]["oracle"]["recall@1"]["per_seed"] == [10.0, 10.0]
    share = s["share"]["recall@1"]
    assert share["of_means"] == pytest.approx(0.5) and share["per_seed"] == [0.5, 0.5]
    # seed 1: the oracle gained nothing on R@5, so that seed has no share
    r5 = s["share"]["recall@5"]
    assert r5["per_seed"] == [-0.1, None] and r5["mean"] == pytest.approx(-0.1)
    assert r5["of_means"] == pytest.approx(0.5 / 5.0)
    table = format_table(s)
    for row in ("oracle", "gap (oracle − sup)", "seeds oracle wins", "share of oracle gain"):
        assert row in table
    assert "50%" in table and "10%" in table


def test_with_the_shuffled_control_the_vdgs_texts_are_measured_against_wrong_ones():
    shuffled = [{"recall@1": 16.0, "recall@5": 28.0}, {"recall@1": 16.0, "recall@5": 35.0}]
    s = summarise({"supervised": SUP, "semi-supervised": SEMI, "shuffled-text": shuffled},
                  [0, 1])
    assert s["gap"]["shuffled-text"]["recall@1"]["per_seed"] == [6.0, 4.0]
    text = s["text_gap"]
    assert text["recall@1"]["per_seed"] == [-1.0, 1.0] and text["recall@1"]["wins"] == 1
    assert text["recall@5"]["per_seed"] == [1.0, 1.0] and text["recall@5"]["wins"] == 2
    table = format_table(s)
    assert "gap (shuffled − sup)" in table and "gap (semi − shuffled)" in table
    assert "+0.00 ± 1.41" in table and "+1.00 ± 0.00" in table
    assert "seeds semi > shuffled" in table
    assert "text_gap" not in summarise({"supervised": SUP, "semi-supervised": SEMI}, [0, 1])


def test_the_table_ends_with_the_claim_in_one_line():
    def runs(*rows):
        return [{"recall@1": a, "recall@10": b, "recall_subset@1": c} for a, b, c in rows]
    sup, semi = runs((10, 40, 50), (12, 44, 52)), runs((15, 48, 51), (14, 50, 53))
    oracle, shuffled = runs((16, 54, 53), (16, 58, 54)), runs((15, 49, 47), (15, 51, 49))
    s = summarise({"supervised": sup, "semi-supervised": semi, "oracle": oracle,
                   "shuffled-text": shuffled}, [0, 1])
    line = headline(s)
    assert line == ("claim: semi − sup R@1 +3.50 (2/2 seeds), R@10 +7.00 (2/2 seeds); "
                    "50% of the oracle's R@10 gain; the VDG's texts over shuffled ones "
                    "Rs@1 +4.00 (2/2 seeds)")
    assert format_table(s).endswith(line)
    two = summarise({"supervised": sup, "semi-supervised": semi}, [0, 1])
    assert headline(two) == "claim: semi − sup R@1 +3.50 (2/2 seeds), R@10 +7.00 (2/2 seeds)"
    ceiling = summarise({"supervised": sup, "oracle": oracle}, [0, 1])  # claim_regime's runs
    assert "claim:" not in format_table(ceiling)


def test_share_is_undefined_when_the_oracle_gains_nothing():
    flat = [{"recall@1": 10.0}, {"recall@1": 12.0}]
    s = summarise({"supervised": flat, "semi-supervised": flat, "oracle": flat}, [0, 1])
    assert s["share"]["recall@1"]["of_means"] is None
    assert "n/a" in format_table(s)


def test_each_run_is_wired_to_its_own_output_and_data():
    cfg = ClaimConfig(**BASE, seeds=[3], human_limit=250,
                      train={"epochs": 2, "pseudo_ratio": 2.0})
    sup = train_config(cfg, "supervised", 3)
    semi = train_config(cfg, "semi-supervised", 3)
    oracle = train_config(cfg, "oracle", 3)
    assert sup.pseudo == "none" and semi.pseudo == "/t" and semi.pseudo_gallery == "/g"
    assert oracle.pseudo == "/o/oracle-triplets" and oracle.pseudo_gallery == "/g"
    assert sup.output == "/o/supervised-seed3/model" != semi.output != oracle.output
    assert sup.seed == semi.seed == oracle.seed == 3 and sup.epochs == 2
    assert semi.pseudo_ratio == oracle.pseudo_ratio == 2.0
    assert sup.human.limit == oracle.human.limit == 250
    assert sup.model.encoder == "tiny-clip"


def test_the_oracle_runs_only_on_a_world_with_truth(tmp_path):
    world = str(tmp_path / "w")
    cfg = ClaimConfig(**{**BASE, "world": world})
    assert cfg.variants() == ["supervised", "semi-supervised"]
    manifest.write_manifest(storage.join(world, TRUTH), stage=TRUTH_STAGE)
    assert cfg.variants() == ["supervised", "semi-supervised", "oracle"]
    assert ClaimConfig(**{**BASE, "world": world}, oracle="off").variants() == [
        "supervised", "semi-supervised"]
    only = ClaimConfig(**{**BASE, "triplets": None}, oracle_triplets="/x")
    assert only.variants() == ["supervised", "oracle"] and only.oracle_uri() == "/x"


def test_bad_train_setting_names_the_key():
    cfg = ClaimConfig(**BASE, train={"epochs": 0})
    with pytest.raises(ConfigError, match="train.*epochs"):
        train_config(cfg, "supervised", 0)


@pytest.mark.parametrize("extra, match", [
    ({"train": {"pseudo": "/x"}}, "set by cir-claim"),
    ({"seeds": [1, 1]}, "repeats"),
    ({"triplets": None}, "oracle_triplets: required"),
    ({"triplets": None, "oracle": "off"}, "only the supervised"),
    ({"oracle": "off", "oracle_triplets": "/x"}, "oracle is off"),
    ({"triplets": None, "oracle_triplets": "/x", "shuffled": True}, "shuffled: needs triplets"),
])
def test_conflicting_settings_are_rejected(extra, match):
    with pytest.raises(ValueError, match=match):
        ClaimConfig(**{**BASE, **extra})


def test_a_vdg_that_kept_no_triplets_is_refused_before_any_training(tmp_path):
    from vdgray.layout import TRIPLETS_STAGE
    from vdgray.stages.cir_claim import check_pseudo

    trip = str(tmp_path / "t")
    cfg = ClaimConfig(**{**BASE, "triplets": trip})
    with pytest.raises(ConfigError, match="not a finished triplets output"):
        check_pseudo(cfg)
    manifest.write_manifest(trip, stage=TRIPLETS_STAGE,
                            counts={"pairs": 120, "triplets": 0, "removed_empty": 120})
    with pytest.raises(ConfigError, match=r"0 pseudo triplets \(generate read 120 pairs; "
                                          r"removed_empty=120\)"):
        check_pseudo(cfg)
    manifest.write_manifest(trip, stage=TRIPLETS_STAGE, counts={"pairs": 120, "triplets": 7})
    check_pseudo(cfg)


def test_a_triplets_output_without_counts_is_counted_by_its_rows(tmp_path):
    from vdgray.data.triplets import PSEUDO, make_triplets
    from vdgray.layout import TRIPLETS_STAGE
    from vdgray.stages.cir_claim import check_pseudo

    trip = str(tmp_path / "t")
    storage.write_parquet(f"{trip}/part-0.parquet", make_triplets([], [], [], PSEUDO, "vdg"))
    manifest.write_manifest(trip, stage=TRIPLETS_STAGE, files=["part-0.parquet"])
    with pytest.raises(ConfigError, match="0 pseudo triplets"):
        check_pseudo(ClaimConfig(**{**BASE, "triplets": trip}))
    storage.write_parquet(f"{trip}/part-0.parquet", make_triplets(["a"], ["b"], ["x"], PSEUDO, "vdg"))
    check_pseudo(ClaimConfig(**{**BASE, "triplets": trip}))


def test_the_shuffled_control_trains_on_the_vdgs_pairs_with_permuted_texts(tmp_path):
    from vdgray.data.triplets import PSEUDO, make_triplets
    from vdgray.layout import TRIPLETS_STAGE
    from vdgray.stages.cir_claim import ensure_shuffled

    trip, out = str(tmp_path / "t"), str(tmp_path / "o")
    refs, tgts = [f"r{i}" for i in range(20)], [f"t{i}" for i in range(20)]
    texts = [f"make it {i}" for i in range(20)]
    storage.write_parquet(f"{trip}/part-0.parquet", make_triplets(refs, tgts, texts, PSEUDO, "vdg"))
    manifest.write_manifest(trip, stage=TRIPLETS_STAGE, files=["part-0.parquet"])
    cfg = ClaimConfig(**{**BASE, "triplets": trip, "output": out}, shuffled=True, oracle="off")
    assert cfg.variants() == ["supervised", "semi-supervised", "shuffled-text"]
    assert train_config(cfg, "shuffled-text", 1).pseudo == f"{out}/shuffled-triplets"
    ensure_shuffled(cfg)
    got = manifest.read_dataset(f"{out}/shuffled-triplets", TRIPLETS_STAGE)
    assert got.column("reference_id").to_pylist() == refs  # the same pairs, in order
    assert got.column("target_id").to_pylist() == tgts
    shuffled = got.column("text").to_pylist()
    assert sorted(shuffled) == sorted(texts)
    assert sum(a == b for a, b in zip(shuffled, texts, strict=True)) < 5
    summary = summarise({"supervised": SUP, "semi-supervised": SEMI, "shuffled-text": ORACLE},
                        [0, 1])
    assert list(summary["gap"]) == ["semi-supervised", "shuffled-text"]
    assert "gap (shuffled − sup)" in format_table(summary)
