"""One self-contained HTML page per report: images inlined as JPEG data URIs, the style and
the little script inlined too, so the file opens offline, from a bucket or an email, with
nothing fetched from anywhere."""

from __future__ import annotations

import base64
import html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } td, th { padding: .3rem .5rem; vertical-align: middle; }
tr:nth-child(even) { background: #f6f6f6; }
th[data-sort] { cursor: pointer; text-decoration: underline dotted; }
img { width: 128px; height: 128px; object-fit: contain; background: #eee; display: block; }
figure { margin: 0; text-align: center; font-size: .7rem; } figcaption { overflow-wrap: anywhere; max-width: 128px; }
.text { max-width: 28rem; } .muted { color: #777; font-size: .85rem; }
.counts td { text-align: right; }
figure.target img { outline: 4px solid #2a2; } .row { display: flex; gap: .5rem; }
.query { margin: 1rem 0; padding: .5rem; border-top: 1px solid #ccc; }
"""

# click a header with data-sort to sort its table by that column (numbers as numbers)
SORT_SCRIPT = """
document.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
  const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
  const down = th.dataset.dir !== "desc"; th.dataset.dir = down ? "desc" : "asc";
  const key = (tr) => { const v = tr.cells[col].dataset.value ?? tr.cells[col].textContent;
                        const n = parseFloat(v); return isNaN(n) ? v : n; };
  [...body.rows].sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down ? -1 : 1))
    .forEach((tr) => body.appendChild(tr));
}));
"""


def seeded_sample(n_rows: int, n: int, seed: int) -> list[int]:
    """Row indices a report shows: all when there are at most `n`, else `n` drawn with `seed`
    (in row order), so the same command shows the same rows."""
    import numpy as np

    if n_rows <= n:
        return list(range(n_rows))
    return sorted(np.random.default_rng(seed).choice(n_rows, size=n, replace=False).tolist())


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def image(jpeg: bytes | None, image_id: str, caption: str | None = None, cls: str = "") -> str:
    """A figure with the image inlined (`data-image-id` names it), or a marked gap when the
    image cannot be read; the caption is the id unless given."""
    label = esc(image_id if caption is None else caption)
    if jpeg is None:
        return (f'<figure data-image-id="{esc(image_id)}" class="missing {cls}">(not readable)'
                f"<figcaption>{label}</figcaption></figure>")
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    return (f'<figure class="{cls}"><img src="{uri}" alt="{esc(image_id)}" '
            f'data-image-id="{esc(image_id)}"><figcaption>{label}</figcaption></figure>')


def table(headers: list[tuple[str, bool]], rows: list[list[str]], cls: str = "") -> str:
    """`headers`: (label, sortable); each row's cells are HTML already."""
    head = "".join(f'<th{" data-sort" if sortable else ""}>{esc(label)}</th>'
                   for label, sortable in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" if not c.startswith("<td") else c
                                    for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def document(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}'
            f"</title><style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{body}"
            f"<script>{SORT_SCRIPT}</script></body></html>\n")
