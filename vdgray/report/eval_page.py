"""`vdgray report eval`: a `vdgray eval` output as pictures. Per query: the reference, the
modification text, the top k with the target marked (or where it ranked, if below), so a
user sees what the retriever gets wrong; the metrics table on top. Queries are a seeded
sample, or the ones asked for by id (`--query`), each with an anchor (#q-<id>) and a box
on the page to jump to an id.

CIRR-format data (CIRR, a synthetic world's CIRR export); the images come from the split's
own reader, where `vdgray eval` found them.
"""

from __future__ import annotations

from vdgray import manifest, storage
from vdgray.errors import ConfigError
from vdgray.layout import EVAL_STAGE, METRICS_FILE, RANKINGS_FILE, cirr_root_for
from vdgray.report.page import document, esc, seeded_sample, table
from vdgray.report.thumbs import Thumbs

FIND_SCRIPT = """
<p><label>query id <input id="find" size="10"></label> <button id="go">show</button>
<span id="nf" class="muted"></span></p>
<script>
document.getElementById("go").addEventListener("click", () => {
  const id = document.getElementById("find").value.trim(), el = document.getElementById("q-" + id);
  document.getElementById("nf").textContent = el ? "" : "query " + id + " is not on this page";
  if (el) el.scrollIntoView();
});
</script>
"""


def _rank(target: str | None, top: list[str]) -> str:
    if target is None:
        return "no target (test split)"
    return f"target at rank {top.index(target) + 1}" if target in top else "target not in top 50"


def eval_report(eval_uri: str, *, n: int = 20, seed: int = 0, k: int = 5,
                queries: list[int] | None = None, size: int = 128) -> tuple[str, dict]:
    """(the page's HTML, a summary) for the finished `vdgray eval` output at `eval_uri`."""
    from vdgray.data.cirr import load_cirr

    manifest.read_manifest(eval_uri, EVAL_STAGE)  # finished, or the error says what is missing
    info = storage.read_json(storage.join(eval_uri, METRICS_FILE))
    if info.get("format") == "fashioniq":
        raise ConfigError(f"{eval_uri}: report eval reads CIRR-format evaluations (cirr, "
                          "world); this one is FashionIQ")
    split = load_cirr(cirr_root_for(info["root"], info["format"]), info["split"],
                      image_root=info.get("image_root"))
    rows = storage.read_parquet(storage.join(eval_uri, RANKINGS_FILE)).to_pylist()
    by_id = {r["pairid"]: r for r in rows}
    if queries:
        unknown = [q for q in queries if q not in by_id]
        if unknown:
            raise ConfigError(f"--query: {unknown[:5]} not among the {len(rows)} queries of "
                              f"{eval_uri}")
        picked = [by_id[q] for q in queries]
    else:
        picked = [rows[i] for i in seeded_sample(len(rows), n, seed)]
    thumbs = Thumbs(split.read_image, size)
    metrics = info.get("metrics") or {}
    body = [f'<p class="muted">{esc(eval_uri)} &middot; {esc(info["format"])} '
            f"{esc(info['split'])} &middot; model {esc(info.get('model', '?'))} &middot; "
            f"{len(picked)} of {len(rows):,} queries</p>"]
    body.append("<h2>Metrics</h2>" + (table(
        [("metric", False), ("value", False)],
        [[esc(name), f"<td>{value:.2f}</td>"] for name, value in metrics.items()], "counts")
        if metrics else '<p class="muted">no targets in this split: no metrics</p>'))
    body.append("<h2>Queries</h2>" + FIND_SCRIPT)
    hits = 0
    for r in picked:
        q = split.query(r["pairid"])
        top = list(r["top50"])
        hits += r["target"] in top[:k]
        figures = [thumbs.figure(x, f"{i + 1}. {x}" + (" (target)" if x == r["target"] else ""),
                                 "target" if x == r["target"] else "")
                   for i, x in enumerate(top[:k])]
        body.append(
            f'<div class="query" id="q-{r["pairid"]}"><p><b>query {r["pairid"]}</b>: '
            f'{esc(q.caption)} <span class="muted">({_rank(r["target"], top)})</span></p>'
            f'<div class="row">{thumbs.figure(q.reference, "reference: " + q.reference)}'
            f'<span>&rarr;</span>{"".join(figures)}</div></div>')
    html = document(f"vdgray eval: {eval_uri}", "".join(body))
    return html, {"queries": len(rows), "shown": len(picked), "target_in_top_k": hits,
                  "images": thumbs.made, "missing_images": thumbs.missing}
