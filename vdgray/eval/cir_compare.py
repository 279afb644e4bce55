"""`vdgray compare-eval`: two or more evaluations side by side (table + bar chart PNG).

This is how the paper's claim is shown on the synthetic world: the supervised baseline and
the semi-supervised model, each evaluated by `vdgray eval`, compared on the same metrics.
Reads each eval output's metrics.json (FashionIQ: the average row), prints a table, writes
compare.json and compare.png to `out`.
"""

from __future__ import annotations

import click

from vdgray import storage
from vdgray.errors import ConfigError, DataFormatError
from vdgray.layout import METRICS_FILE


def _flat(doc: dict, uri: str) -> dict[str, float]:
    m = doc.get("metrics")
    if not m:
        raise DataFormatError(f"{uri}/{METRICS_FILE}: no metrics (a test split without targets?)")
    return m.get("average", m)


def compare(eval_uris: list[str], labels: list[str] | None = None,
            out: str | None = None) -> dict:
    """Side-by-side metrics of eval outputs; writes compare.json + compare.png under `out`."""
    if len(eval_uris) < 2:
        raise ConfigError("compare: give at least two eval outputs")
    labels = list(labels or [u.rstrip("/").rsplit("/", 1)[-1] for u in eval_uris])
    if len(labels) != len(eval_uris):
        raise ConfigError(f"compare: {len(labels)} labels for {len(eval_uris)} eval outputs")
    rows = [_flat(storage.read_json(storage.join(u, METRICS_FILE)), u) for u in eval_uris]
    keys = [k for k in rows[0] if all(k in r for r in rows[1:])]
    table = {label: {k: r[k] for k in keys} for label, r in zip(labels, rows, strict=True)}
    click.echo(format_table(labels, keys, table))
    result = {"labels": labels, "inputs": list(eval_uris), "keys": keys, "table": table}
    if out:
        from vdgray.eval.plots import bar_chart_png

        png = bar_chart_png(labels, keys, [[table[lab][k] for k in keys] for lab in labels],
                            title="CIR recall (%)")
        storage.write_bytes(storage.join(out, "compare.png"), png)
        storage.write_json(storage.join(out, "compare.json"), result)
        result["png"] = storage.join(out, "compare.png")
    return result


def format_table(labels: list[str], keys: list[str], table: dict) -> str:
    """A plain-text table: one row per label, one column per metric."""
    width = max(len(x) for x in labels + ["model"])
    cols = [k.replace("recall_subset", "Rs").replace("recall", "R") for k in keys]
    lines = [f"{'model':<{width}}  " + "  ".join(f"{c:>7}" for c in cols)]
    for lab in labels:
        lines.append(f"{lab:<{width}}  " + "  ".join(f"{table[lab][k]:7.2f}" for k in keys))
    return "\n".join(lines)


@click.command("compare-eval")
@click.argument("eval_uris", nargs=-1, required=True)
@click.option("--label", "-l", "labels", multiple=True, help="Label per eval output (in order).")
@click.option("--out", "-o", default=None, help="Where compare.json and compare.png go.")
def command(eval_uris, labels, out):
    """Compare two or more `vdgray eval` outputs (table + bar chart PNG)."""
    compare(list(eval_uris), list(labels) or None, out)
