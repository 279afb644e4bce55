"""`vdgray report`: a stage's output as one self-contained HTML page (images inlined), written
atomically to a local path or s3://."""

from __future__ import annotations

import click

from vdgray import storage


@click.group("report")
def command():
    """Look at an output: one offline HTML page with the images in it."""


def page_options(f):
    """--seed, --size and --output: what every page with sampled images takes."""
    f = click.option("--output", "-o", required=True,
                     help="The page to write (.html, local or s3://).")(f)
    f = click.option("--size", default=128, show_default=True, type=click.IntRange(16, 512),
                     help="Thumbnail size (pixels).")(f)
    return click.option("--seed", default=0, show_default=True, help="Seed of the sample.")(f)


@command.command("triplets")
@click.option("--triplets", required=True, help="A finished `vdgray generate` output (dir/URI).")
@click.option("--gallery", required=True, help="The gallery generate read (folder or Parquet, dir/URI).")
@click.option("-n", "n", default=60, show_default=True, type=click.IntRange(min=1),
              help="Triplets (and dropped pairs) shown: a seeded sample.")
@page_options
def triplets(triplets, gallery, n, seed, size, output):
    """The kept triplets as reference | text | target (sortable by score), and the pairs the
    filter dropped with the reason."""
    from vdgray.report.triplets import triplets_report

    html, s = triplets_report(triplets, gallery, n=n, seed=seed, size=size)
    storage.write_text(output, html)
    missing = f", {s['missing_images']} not in the gallery" if s["missing_images"] else ""
    click.echo(f"report triplets: {s['shown']} of {s['triplets']:,} triplets, "
               f"{s['dropped_shown']} of {s['dropped']:,} dropped, {s['images']} images"
               f"{missing} -> {output}")


@command.command("eval")
@click.option("--eval", "eval_uri", required=True, help="A finished `vdgray eval` output (CIRR or world).")
@click.option("-n", "n", default=20, show_default=True, type=click.IntRange(min=1),
              help="Queries shown: a seeded sample.")
@click.option("--query", "queries", multiple=True, type=int, help="Show this query id (repeatable) instead of a sample.")
@click.option("--k", "k", default=5, show_default=True, type=click.IntRange(1, 50), help="Results shown per query.")
@page_options
def eval_(eval_uri, n, queries, k, seed, size, output):
    """Per query: the reference, the text, the top k with the target marked; the metrics."""
    from vdgray.report.eval_page import eval_report

    html, s = eval_report(eval_uri, n=n, seed=seed, k=k, queries=list(queries), size=size)
    storage.write_text(output, html)
    click.echo(f"report eval: {s['shown']} of {s['queries']:,} queries (target in the top {k} "
               f"for {s['target_in_top_k']}), {s['images']} images -> {output}")


@command.command("pairs")
@click.option("--pairs", required=True, help="A finished `vdgray mine` output (dir/URI).")
@click.option("--gallery", required=True, help="The gallery the embeddings came from (folder or Parquet, dir/URI).")
@click.option("-n", "n", default=20, show_default=True, type=click.IntRange(min=1),
              help="Groups shown: a seeded sample.")
@page_options
def pairs(pairs, gallery, n, seed, size, output):
    """The mined groups as rows of images, with the similarity of each mined pair."""
    from vdgray.report.pairs_page import pairs_report

    html, s = pairs_report(pairs, gallery, n=n, seed=seed, size=size)
    storage.write_text(output, html)
    click.echo(f"report pairs: {s['shown']} of {s['groups']:,} groups ({s['pairs']:,} pairs), "
               f"{s['images']} images -> {output}")


@command.command("claim")
@click.option("--claim", required=True, help="A finished `vdgray cir-claim` output (dir/URI).")
@click.option("--output", "-o", required=True, help="The page to write (.html, local or s3://).")
def claim(claim, output):
    """The claim's table and chart as one page."""
    from vdgray.report.claim_page import claim_report

    html, s = claim_report(claim)
    storage.write_text(output, html)
    click.echo(f"report claim: {', '.join(s['variants'])} over seeds {s['seeds']} -> {output}")
