"""`vdgray report`: a stage's output as one self-contained HTML page (images inlined), written
atomically to a local path or s3://."""

from __future__ import annotations

import click


@click.group("report")
def command():
    """Look at an output: one offline HTML page with the images in it."""


@command.command("triplets")
@click.option("--triplets", required=True, help="A finished `vdgray generate` output (dir/URI).")
@click.option("--gallery", required=True, help="The gallery generate read (folder or Parquet, dir/URI).")
@click.option("-n", "n", default=60, show_default=True, help="Triplets (and dropped pairs) shown: a seeded sample.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample.")
@click.option("--size", default=128, show_default=True, type=click.IntRange(16, 512),
              help="Thumbnail size (pixels).")
@click.option("--output", "-o", required=True, help="The page to write (.html, local or s3://).")
def triplets(triplets, gallery, n, seed, size, output):
    """The kept triplets as reference | text | target (sortable by score), and the pairs the
    filter dropped with the reason."""
    from vdgray import storage
    from vdgray.report.triplets import triplets_report

    if n < 1:
        raise click.BadParameter(f"{n}: at least 1", param_hint="-n")
    html, s = triplets_report(triplets, gallery, n=n, seed=seed, size=size)
    storage.write_text(output, html)
    missing = f", {s['missing_images']} not in the gallery" if s["missing_images"] else ""
    click.echo(f"report triplets: {s['shown']} of {s['triplets']:,} triplets, "
               f"{s['dropped_shown']} of {s['dropped']:,} dropped, {s['images']} images"
               f"{missing} -> {output}")
