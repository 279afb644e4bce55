"""The `vdgray` console script: one click group built from a table of subcommands.

Subcommands are imported lazily so `vdgray --help` is instant; each stage command's help
lists its config keys (`vdgray.config_help`). Failures are printed by `vdgray.error_report`:
a `VdgrayError` is one `error: ...` line and exit 2, a bug its traceback and exit 1. The
docs/commands.md lists the commands; checked against `COMMANDS` by a test.
"""

from __future__ import annotations

import sys

import click

from vdgray import config_help
from vdgray.console import VERBOSE_ENV, quiet_model_libraries, set_verbose
from vdgray.error_report import run_click
from vdgray.lazy_group import LazyGroup
from vdgray.stages.table import COMMAND_TABLE

# name -> ("module:attribute" of a click.Command, one-line help), from the stage table.
COMMANDS: dict[str, tuple[str, str]] = {c.name: (c.target, c.help) for c in COMMAND_TABLE}


@click.group(cls=LazyGroup, table=COMMANDS, on_load=config_help.attach,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vdgray")
@click.option("--verbose", "-v", is_flag=True,
              help=f"Also print Ray's and the model libraries' own logs and progress bars (same "
                   f"as {VERBOSE_ENV}=1), and a bug's whole exception chain with Ray's wrappers; "
                   "otherwise the logs go to Ray's log directory.")
def cli(verbose):
    """vdgray: make composed-image-retrieval training data with a Visual Delta Generator,
    then train and serve the retriever, on Ray.

    `vdgray COMMAND --help` lists the command's config keys. Models are directories or s3://
    URIs; the registered tiny-* names are random models for tests and benchmarks."""
    if verbose:
        set_verbose(True)
    quiet_model_libraries()


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 2 user error, 1 bug)."""
    return run_click(cli, argv, prog_name="vdgray")


def entry() -> None:
    sys.exit(main())
