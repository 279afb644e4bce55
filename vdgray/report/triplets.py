"""`vdgray report triplets`: what `generate` wrote, as pictures. A seeded sample of the kept
triplets (reference | text | target, generator, filter score, sortable), a sample of the pairs
the filter dropped with the reason, and the run's counts, so a user can judge by eye whether
the deltas say what changed between the two images.

The filter's side records hold only (triplet id, reason); the dropped pairs' images are found
through the run's own pairs input (each pair's triplet id recomputed as `generate` made it).
"""

from __future__ import annotations

from vdgray import manifest, storage
from vdgray.data.triplets import triplet_id
from vdgray.layout import PAIRS_STAGE, TRIPLET_ID, TRIPLETS_STAGE
from vdgray.report.page import document, esc, seeded_sample, table
from vdgray.report.thumbs import Thumbs


def _dropped(triplets: str, doc: dict, n: int, seed: int) -> tuple[int, list[dict]]:
    """(how many were dropped, a seeded sample of them with reference, target and reason)."""
    from vdgray.stages.generate.join import read_side_records
    from vdgray.stages.generate.stage import FILTERED_DIR

    removed = read_side_records(storage.join(triplets, FILTERED_DIR), TRIPLET_ID)
    picked = [removed[i] for i in seeded_sample(len(removed), n, seed)]
    if not picked:
        return len(removed), []
    want = {r[TRIPLET_ID]: r["reason"] for r in picked}
    pairs_uri, generator = doc["inputs"]["pairs"], doc["generator"]
    found = {}
    for f in manifest.dataset_files(pairs_uri, stage=PAIRS_STAGE):
        t = storage.read_parquet(f, columns=["reference_id", "target_id"])
        for ref, tgt in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True):
            tid = triplet_id(ref, tgt, generator)
            if tid in want:
                found[tid] = {"reference_id": ref, "target_id": tgt, "reason": want[tid]}
    return len(removed), [found[t] for t in want if t in found]


def _score_cell(score: float | None) -> str:
    if score is None:
        return '<td data-value=""></td>'
    return f'<td data-value="{score}">{score:.3f}</td>'


def triplets_report(triplets: str, gallery: str, *, n: int = 60, seed: int = 0,
                    size: int = 128) -> tuple[str, dict]:
    """(the page's HTML, a summary) for the finished `generate` output at `triplets`."""
    doc = manifest.read_manifest(triplets, stage=TRIPLETS_STAGE)
    files = [storage.join(triplets, f) for f in doc["files"]]
    rows = storage.read_parquet(files).to_pylist() if files else []
    kept = [rows[i] for i in seeded_sample(len(rows), n, seed)]
    n_dropped, dropped = _dropped(triplets, doc, n, seed)
    thumbs = Thumbs.from_gallery(gallery, size)

    body = [f'<p class="muted">{esc(triplets)} &middot; gallery {esc(gallery)} &middot; '
            f"generator {esc(doc.get('generator', '?'))} &middot; sample seed {seed}</p>"]
    counts = doc.get("counts", {})
    body.append("<h2>Counts</h2>" + table(
        [("", False), ("", False)],
        [[esc(k), f"<td>{int(v):,}</td>"] for k, v in counts.items()], "counts"))
    body.append(f"<h2>Kept: {len(kept)} of {len(rows):,} triplets</h2>")
    has_score = any(r.get("score") is not None for r in kept)
    headers = [("reference", False), ("text", True), ("target", False), ("generator", True)]
    headers += [("score", True)] if has_score else []
    body.append(table(headers, [
        [thumbs.figure(r["reference_id"]), f'<td class="text">{esc(r["text"])}</td>',
         thumbs.figure(r["target_id"]), f"<td>{esc(r['generator'][:24])}</td>"]
        + ([_score_cell(r.get("score"))] if has_score else [])
        for r in kept]))
    body.append(f"<h2>Dropped by the filter: {len(dropped)} of {n_dropped:,}</h2>")
    body.append(table([("reference", False), ("target", False), ("reason", True)], [
        [thumbs.figure(r["reference_id"]), thumbs.figure(r["target_id"]), esc(r["reason"])]
        for r in dropped]) if dropped else '<p class="muted">none</p>')
    html = document(f"vdgray triplets: {triplets}", "".join(body))
    return html, {"triplets": len(rows), "shown": len(kept), "dropped": n_dropped,
                  "dropped_shown": len(dropped), "images": thumbs.made,
                  "missing_images": thumbs.missing}


