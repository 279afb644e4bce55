"""`vdgray bench generate --commits N`: both rules on the same names, the same answer."""

from __future__ import annotations

import json

from click.testing import CliRunner

from vdgray.bench.generate import command


def test_commits_bench_times_both_rules_on_the_same_names(tmp_path):
    out = tmp_path / "c.json"
    res = CliRunner().invoke(command, ["--commits", "500", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    old, new = doc["rows"]
    assert old["shards"] == new["shards"] == 500 and old["files"] == 510
    assert old["uncommitted"] == new["uncommitted"] == 10
    assert old["seconds"] > 0 and new["seconds"] > 0 and doc["meta"]["speedup"] > 0
