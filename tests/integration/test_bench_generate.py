"""`vdgray bench generate --floor` and `--resume` (with `--kill-after`, local and `--s3`) at
toy sizes, run as a user runs them: the JSON has its fields and the output held every pair
exactly once (the bench reads the output back before it deletes it)."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers.paths import BIN

pytestmark = pytest.mark.integration


def _bench(tmp_path, *args: str, timeout: int = 600) -> dict:
    out = tmp_path / "bench.json"
    r = subprocess.run([str(BIN / "vdgray"), "bench", "generate", *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def test_floor_runs_every_pair_through_the_pipeline_once(tmp_path):
    doc = _bench(tmp_path, "--floor", "2000", "--rows-per-file", "300")
    (row,) = doc["rows"]
    assert row["pairs"] == row["triplets"] == 2000 and row["exactly_once"] is True
    assert row["shards"] >= 2  # several commits, so the end of the run has work to do
    for key in ("pairs_per_s", "driver_peak_rss_mb", "workers_peak_rss_mb", "finish_s",
                "remove_uncommitted_s", "count_s", "manifest_s", "checkpoint_delete_s"):
        assert row[key] >= 0, key
    assert row["workers_peak_rss_mb"] > 0 and doc["meta"]["rows_per_file"] == 300


@pytest.mark.parametrize("where", ["local", "s3"])
def test_resume_after_a_kill_at_a_given_time_writes_every_pair_once(tmp_path, where):
    n = 300
    doc = _bench(tmp_path, "--resume", str(n), "--kill-after", "8",
                 *(["--s3"] if where == "s3" else []),
                 "--set", "rows_per_file=40", "--set", "block_rows=40")
    meta = doc["meta"]
    assert meta["storage"].startswith(where) and meta["pairs"] == n
    assert meta["exactly_once"] is True and meta["pairs_accounted"] == n
    assert "same_ids" not in meta  # no uninterrupted run to compare with
    killed, resumed = doc["rows"]
    assert killed["run"] == "killed at 8 s" and 0 <= killed["triplets"] < n
    assert 0 < resumed["triplets"] <= n
