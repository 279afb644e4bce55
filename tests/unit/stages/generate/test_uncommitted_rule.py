"""`committed.uncovered`, the end-of-run commit check, keeps Ray's naming rule: a data file is
committed when a committed checkpoint's name is a prefix of its basename. Checked against the
old every-file-x-every-checkpoint rule on generated names, tricky prefixes included."""

from __future__ import annotations

import random

import pyarrow as pa

from vdgray import storage
from vdgray.bench.generate_commits import quadratic, ray_style_names
from vdgray.stages.generate.committed import remove_uncommitted, uncovered


def test_names_that_are_prefixes_of_each_other():
    prefixes = ["w_1", "w_10", "a", "ab", "abc_2"]
    names = ["w_1_0.parquet", "w_10_0.parquet", "w_100.parquet", "w_2.parquet", "w_.parquet",
             "w.parquet", "abz", "ab", "a", "", "b", "abc_20", "w_1"]
    assert uncovered(names, prefixes) == quadratic(names, prefixes) == ["w_2.parquet",
                                                                        "w_.parquet", "w.parquet",
                                                                        "", "b"]
    assert uncovered(names, ["w_10"]) == quadratic(names, ["w_10"])
    assert uncovered(names, []) == names and uncovered([], prefixes) == []
    assert uncovered(["x", "x"], ["x", "x", ""]) == []  # duplicates; "" covers every name


def test_random_names_over_a_small_alphabet_agree_with_the_old_rule():
    """Short names over 3 letters make prefixes of each other at every length."""
    rng = random.Random(0)

    def word(k: int) -> str:
        return "".join(rng.choice("ab_") for _ in range(rng.randint(0, k)))

    for _ in range(2000):
        prefixes = [word(4) for _ in range(rng.randint(0, 8))]
        names = [word(6) for _ in range(rng.randint(0, 12))]
        assert uncovered(names, prefixes) == quadratic(names, prefixes), (names, prefixes)


def test_ray_style_names_with_unpadded_task_numbers_agree_with_the_old_rule():
    names, prefixes = ray_style_names(300, orphans=7)
    assert uncovered(names, prefixes) == quadratic(names, prefixes) == names[-7:]
    # task numbers without padding: "..._1" is a prefix of "..._10" and "..._100"
    prefixes = [f"d_w_{i}" for i in range(0, 150, 3)]
    names = [f"d_w_{i}_{b}.parquet" for i in range(150) for b in range(2)] + ["d_w_.parquet"]
    assert uncovered(names, prefixes) == quadratic(names, prefixes)


def test_remove_uncommitted_deletes_only_the_uncovered_files(tmp_path):
    out, ckpt = tmp_path / "out", tmp_path / "out" / "_checkpoint"
    for name in ("w_1.parquet", "w_1.pending.parquet", "w_3.parquet"):
        storage.write_parquet(str(ckpt / name), pa.table({"triplet_id": ["x"]}))
    data = ["w_1_0.parquet", "w_10_0.parquet", "w_3_0.parquet", "w_2_0.parquet"]
    for name in data:
        storage.write_parquet(str(out / name), pa.table({"triplet_id": ["x"]}))
    # "w_1" (committed) is a prefix of "w_10_0": Ray's rule keeps it, and so do we
    assert remove_uncommitted(str(out), data, str(ckpt)) == data[:3]
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(data[:3])
