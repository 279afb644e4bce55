"""Shared benchmark output: an aligned table on stdout and the same rows as JSON.

Every `vdgray bench` command ends with `report(...)`, so results read the same in a terminal
and in CI artifacts (`bench-results/*.json`), and the JSON carries what was measured where.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
from typing import Any

import click

from vdgray import storage


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.4f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def format_table(rows: list[dict]) -> str:
    """Columns in order of first appearance; numbers right-aligned, text left-aligned."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(cols), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def machine() -> dict:
    """Where the numbers were taken (CPU count, platform, python)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def report(name: str, rows: list[dict], out_uri_or_path: str | None, meta: dict | None = None) -> dict:
    """Print `rows` as a table under a title and write {bench, created_at, machine, meta, rows}
    as JSON to `out_uri_or_path` (local path or s3:// URI; None writes nothing)."""
    doc = {
        "bench": name,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "meta": meta or {},
        "rows": rows,
    }
    click.echo(f"== bench {name} ==")
    for k, v in (meta or {}).items():
        if not isinstance(v, (dict, list)):
            click.echo(f"{k}: {_fmt(v)}")
    click.echo(format_table(rows))
    if out_uri_or_path:
        storage.write_json(str(out_uri_or_path), doc)
        click.echo(f"wrote {out_uri_or_path}")
    return doc
