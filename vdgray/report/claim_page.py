"""`vdgray report claim`: a `cir-claim` output as one page, its table (each variant's mean and
spread over seeds, the gaps, seeds won, the oracle share) and its chart inlined."""

from __future__ import annotations

import base64

from vdgray import manifest, storage
from vdgray.layout import CLAIM_STAGE
from vdgray.report.page import document, esc


def claim_report(claim: str) -> tuple[str, dict]:
    """(the page's HTML, a summary) for the finished `vdgray cir-claim` output at `claim`."""
    from vdgray.stages.cir_claim import format_table

    doc = manifest.read_manifest(claim, CLAIM_STAGE)
    summary = storage.read_json(storage.join(claim, "claim.json"))
    png = storage.read_bytes(storage.join(claim, "claim.png"))
    chart = "data:image/png;base64," + base64.b64encode(png).decode()
    body = (f'<p class="muted">{esc(claim)} &middot; seeds {esc(summary.get("seeds"))} '
            f"&middot; {doc.get('counts', {}).get('runs', '?')} runs</p>"
            f"<h2>The claim</h2><pre>{esc(format_table(summary))}</pre>"
            f'<h2>Chart</h2><img src="{chart}" alt="the claim chart" '
            f'style="width:auto;height:auto;max-width:100%">')
    html = document(f"vdgray claim: {claim}", body)
    return html, {"variants": list(summary.get("variants", {})),
                  "seeds": summary.get("seeds", [])}
