"""`vdgray report pairs`: what `mine` found, as pictures. A seeded sample of the mined groups,
each a row: the group's images with the similarity of every mined pair among them, so a user
sees whether the miner pairs images that differ by one change (the VDG's input) or by many."""

from __future__ import annotations

from collections import defaultdict

from vdgray import manifest, storage
from vdgray.layout import PAIRS_STAGE
from vdgray.report.page import document, esc, seeded_sample, table
from vdgray.report.thumbs import Thumbs


def pairs_report(pairs: str, gallery: str, *, n: int = 20, seed: int = 0,
                 size: int = 128) -> tuple[str, dict]:
    """(the page's HTML, a summary) for the finished `vdgray mine` output at `pairs`."""
    files = manifest.dataset_files(pairs, stage=PAIRS_STAGE)
    t = storage.read_parquet(files, columns=["reference_id", "target_id", "similarity",
                                             "group_id"]) if files else None
    groups: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
    if t is not None:
        for ref, tgt, sim, g in zip(*(t.column(c).to_pylist() for c in t.column_names),
                                    strict=True):
            groups[g].append((ref, tgt, sim))
    ids = sorted(groups)
    picked = [ids[i] for i in seeded_sample(len(ids), n, seed)]
    thumbs = Thumbs.from_gallery(gallery, size)
    rows = []
    for g in picked:
        members = sorted({x for ref, tgt, _ in groups[g] for x in (ref, tgt)})
        sims = ", ".join(f"{esc(r)} &rarr; {esc(t_)}: {s:.3f}" for r, t_, s in groups[g][:12])
        more = f" (+{len(groups[g]) - 12} more)" if len(groups[g]) > 12 else ""
        rows.append([f'<td data-value="{g}">{g}</td>', f'<td data-value="{len(groups[g])}">'
                     f"{len(groups[g])}</td>",
                     '<div class="row">' + "".join(thumbs.figure(m) for m in members) + "</div>"
                     f'<p class="muted">{sims}{more}</p>'])
    n_pairs = 0 if t is None else t.num_rows
    body = (f'<p class="muted">{esc(pairs)} &middot; gallery {esc(gallery)} &middot; '
            f"{len(picked)} of {len(ids):,} groups, {n_pairs:,} pairs &middot; sample seed "
            f"{seed}</p>" + table([("group", True), ("pairs", True), ("images and similarities",
                                                                      False)], rows))
    html = document(f"vdgray pairs: {pairs}", body)
    return html, {"groups": len(ids), "pairs": n_pairs, "shown": len(picked),
                  "images": thumbs.made, "missing_images": thumbs.missing}
