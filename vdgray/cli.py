"""The `vdgray` console script: one click group built from a table of subcommands.

Subcommands are imported lazily so `vdgray --help` is instant. Every `VdgrayError` becomes a
single `error: ...` line on stderr and exit code 2; the README's command list is checked
against `COMMANDS` by a test.
"""

from __future__ import annotations

import sys

import click

from vdgray.console import VERBOSE_ENV, set_verbose
from vdgray.errors import VdgrayError
from vdgray.lazy_group import LazyGroup

# name -> ("module:attribute" of a click.Command, one-line help). Only commands that work.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("vdgray.data.synthetic.stage:command", "Write a synthetic CIR world to a URI."),
    "train-encoder": ("vdgray.train.encoder:command",
                      "Train a small CLIP on a synthetic world's image-caption pairs (Ray Train)."),
    "embed": ("vdgray.stages.embed:command", "Embed a gallery with an image encoder (Ray Data)."),
    "mine": ("vdgray.stages.mine:command",
             "Mine reference-target pairs from embeddings (FAISS, CIRR subgroups)."),
    "train-vdg": ("vdgray.train.vdg:command",
                  "Train the Visual Delta Generator (stage lm|align|instruct) on Ray Train."),
    "vdg": ("vdgray.models.vdg.cli:command", "Assemble or export a VDG (HF LLaVA) model dir."),
    "eval-vdg": ("vdgray.eval.vdg:command",
                 "Delta quality of a VDG: BLEU-4, ROUGE-L, exact attribute match."),
    "generate": ("vdgray.stages.generate:command",
                 "Generate pseudo triplets for mined pairs with an exported VDG (Ray Data)."),
    "train-cir": ("vdgray.train.cir:command",
                  "Train the CIR retriever (combiner or BLIP) on human + pseudo triplets."),
    "eval": ("vdgray.eval.cir:command",
             "Evaluate a retriever on CIRR / FashionIQ / the synthetic world; write rankings."),
    "index": ("vdgray.stages.index:command",
              "Embed a gallery with a trained retriever and write a FAISS index for serving."),
    "serve": ("vdgray.serve.cli:command",
              "Serve the retriever over HTTP (Ray Serve: FastAPI routes on the batched model)."),
    "compare-eval": ("vdgray.eval.cir_compare:command",
                     "Side-by-side table and bar chart of several eval outputs."),
    "cir-claim": ("vdgray.eval.claim:command",
                  "Supervised vs semi-supervised retriever over seeds (mean ± std, bar chart)."),
    "demo": ("vdgray.demo:command", "Run the whole pipeline on the built-in synthetic world."),
    "submit": ("vdgray.submit:command",
               "Submit a stage or the whole pipeline as a Ray job to a running cluster."),
    "bench": ("vdgray.bench.cli:command", "Benchmarks: print a table and write JSON."),
}


@click.group(cls=LazyGroup, table=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vdgray")
@click.option("--verbose", "-v", is_flag=True,
              help=f"Also print Ray's and the model libraries' own logs (same as {VERBOSE_ENV}=1); "
                   "otherwise they go to Ray's log directory.")
def cli(verbose):
    """vdgray: make composed-image-retrieval training data with a Visual Delta Generator,
    then train and serve the retriever, on Ray."""
    if verbose:
        set_verbose(True)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 2 user error)."""
    try:
        cli.main(args=argv, prog_name="vdgray", standalone_mode=False)
    except VdgrayError as e:
        click.echo(f"error: {e}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    return 0


def entry() -> None:
    sys.exit(main())
