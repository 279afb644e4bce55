"""`vdgray demo`: the whole pipeline on the built-in synthetic world, with size presets.

A preset is a pipeline config shipped in `vdgray/configs/demo-<size>.yaml`; the demo is
`run_pipeline` on it, so it exercises exactly the code the cluster jobs run. Re-running
skips finished stages.
"""

from __future__ import annotations

from importlib import resources

import click

from vdgray import manifest
from vdgray.config import load_config
from vdgray.pipeline import PipelineConfig, run_pipeline, uri_of

SIZES = ("tiny", "default")


def preset_path(size: str):
    return resources.files("vdgray") / "configs" / f"demo-{size}.yaml"


def demo_config(size: str, output: str, num_cpus: int | None = None, seed: int = 0,
                overrides: tuple[str, ...] = ()) -> PipelineConfig:
    """The preset's pipeline config with the output root, CPUs and seed filled in."""
    extra = [f"output={output}", f"seed={seed}"]
    if num_cpus is not None:
        extra.append(f"ray.num_cpus={num_cpus}")
    with resources.as_file(preset_path(size)) as p:
        return load_config(PipelineConfig, p, extra + list(overrides))


@click.command("demo")
@click.option("--size", type=click.Choice(SIZES), default="default", show_default=True,
              help="Preset sizes: tiny (every stage at toy sizes, what the tests run) or default "
                   "(the paper's claim on the synthetic world, 35 to 46 minutes on 2 CPUs).")
@click.option("--output", "-o", default=None,
              help="Root for every stage's output (local path or s3://bucket/prefix) "
                   "[default: runs/demo-SIZE].")
@click.option("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a pipeline value, e.g. --set settings.mine.top_k=10.")
def command(size, output, num_cpus, seed, overrides):
    """Run the whole pipeline on the built-in synthetic world."""
    cfg = demo_config(size, output or f"runs/demo-{size}", num_cpus, seed, overrides)
    click.echo(f"vdgray demo --size {size}: stages {', '.join(cfg.stages)}")
    run_pipeline(cfg)
    if "cir-claim" in cfg.stages:
        echo_claim(uri_of(cfg, "cir-claim"))
    pages = write_reports(cfg)
    if pages:
        click.echo("\nlook at it (open in a browser; the images are in the pages):")
        for what, uri in pages:
            click.echo(f"  {what}: {uri}")


def write_reports(cfg: PipelineConfig) -> list[tuple[str, str]]:
    """`vdgray report`'s pages of the run, under <output>/reports/: the mined pairs, the
    triplets generate wrote, the evaluation's queries and the claim; (what, URI) of each."""
    from vdgray import storage
    from vdgray.pipeline import wiring
    from vdgray.report.claim_page import claim_report
    from vdgray.report.eval_page import eval_report
    from vdgray.report.pairs_page import pairs_report
    from vdgray.report.triplets import triplets_report

    pages = []
    if "mine" in cfg.stages:
        html, _ = pairs_report(uri_of(cfg, "mine"), wiring(cfg, "embed")["gallery"])
        pages.append(("pairs", storage.join(cfg.output, "reports", "pairs.html"), html))
    if "generate" in cfg.stages:
        html, _ = triplets_report(uri_of(cfg, "generate"), wiring(cfg, "generate")["gallery"])
        pages.append(("triplets", storage.join(cfg.output, "reports", "triplets.html"), html))
    if "eval" in cfg.stages:
        html, _ = eval_report(uri_of(cfg, "eval"))
        pages.append(("eval", storage.join(cfg.output, "reports", "eval.html"), html))
    if "cir-claim" in cfg.stages:
        html, _ = claim_report(uri_of(cfg, "cir-claim"))
        pages.append(("claim", storage.join(cfg.output, "reports", "claim.html"), html))
    for _, uri, html in pages:
        storage.write_text(uri, html)
    return [(what, uri) for what, uri, _ in pages]


def echo_claim(uri: str) -> None:
    """The claim's table once more, last: the demo's result, under pages of stage lines."""
    from vdgray.layout import CLAIM_STAGE
    from vdgray.stages.cir_claim import format_table

    summary = manifest.read_manifest(uri, CLAIM_STAGE).get("summary")
    if summary:
        click.echo(f"\nthe claim ({uri}/claim.json, claim.png):\n{format_table(summary)}")
