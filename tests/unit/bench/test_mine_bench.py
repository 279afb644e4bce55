"""`vdgray bench mine` at a tiny size, and the shared report helper it writes through."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from vdgray.bench import mine as bench_mine
from vdgray.bench.report import format_table, report


def test_format_table_aligns_columns_of_all_rows():
    text = format_table([{"name": "a", "secs": 1.5}, {"name": "long-name", "secs": 12345.0,
                                                      "extra": True}])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "secs", "extra"]
    assert len({len(line) for line in lines[:2]}) == 1
    assert "12,345" in lines[3] and "yes" in lines[3] and "1.50" in lines[2]


def test_report_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "r.json"
    report("demo", [{"x": 1}], str(out), {"n": 3})
    doc = json.loads(out.read_text())
    assert doc["bench"] == "demo" and doc["rows"] == [{"x": 1}] and doc["meta"] == {"n": 3}
    assert doc["machine"]["cpus"] >= 1
    assert "== bench demo ==" in capsys.readouterr().out


def test_clustered_vectors_are_unit_and_have_neighbourhoods():
    x = bench_mine.clustered_vectors(2000, 32, clusters=20, noise=0.5, seed=0)
    assert x.dtype == np.float32 and x.shape == (2000, 32)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    sims = x[:100] @ x.T
    top = np.sort(sims, axis=1)[:, -21:-1].mean()
    assert top > np.median(sims) + 0.3  # near neighbours are much closer than a random vector


def test_bench_command_small(tmp_path):
    out = tmp_path / "mine.json"
    res = CliRunner().invoke(bench_mine.command, [
        "--n", "4000", "--dim", "16", "--nlist", "20", "--nprobe", "20", "--noise", "0.5",
        "--exact-queries", "500", "--train-size", "4000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    exact, ivf = doc["rows"]
    assert exact["search_extrapolated"] is True and exact["queries_timed"] == 500
    assert ivf["queries_timed"] == 4000
    # probing every list is exact search: recall must be 1 (up to ties)
    assert ivf["recall_at_k"] > 0.99
    assert doc["meta"]["nlist"] == 20 and doc["meta"]["cirr_groups"] > 0
    assert "recall_at_k" in res.output
