"""Bar charts of retrieval metrics (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io


def bar_chart_png(labels: list[str], keys: list[str], values: list[list[float]],
                  title: str = "", errors: list[list[float]] | None = None) -> bytes:
    """Grouped bars: one group per metric key, one bar per label; returns PNG bytes.
    `errors` (same shape as `values`) draws error bars, e.g. the std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(keys))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(keys) * max(1, len(labels)) / 2), 4))
    try:
        for i, (label, row) in enumerate(zip(labels, values, strict=True)):
            err = errors[i] if errors is not None else None
            bars = ax.bar(x + (i - (len(labels) - 1) / 2) * width, row, width, label=label,
                          yerr=err, capsize=3 if err is not None else 0)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(x, keys)
        ax.set_ylabel("recall (%)")
        ax.set_ylim(0, 105)
        if title:
            ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()
    finally:
        plt.close(fig)
