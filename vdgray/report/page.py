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


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def image(jpeg: bytes | None, image_id: str) -> str:
    """A figure with the image inlined (`data-image-id` names it), or a marked gap when the
    gallery no longer has it."""
    if jpeg is None:
        return f'<figure data-image-id="{esc(image_id)}" class="missing">(not in the gallery)' \
               f"<figcaption>{esc(image_id)}</figcaption></figure>"
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    return (f'<figure><img src="{uri}" alt="{esc(image_id)}" data-image-id="{esc(image_id)}">'
            f"<figcaption>{esc(image_id)}</figcaption></figure>")


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
