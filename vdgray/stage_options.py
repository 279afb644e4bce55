"""Options every stage command shares: `--config FILE` and repeated `--set key.sub=value`."""

from __future__ import annotations

import click

from vdgray.config import load_config

# What the help says wherever a stage takes a model: the registered names are no real models.
TEST_MODELS = ("tiny-* names (tiny-clip, tiny-blip, world-clip-random) are random models for "
               "tests and benchmarks only.")


def config_options(f):
    """Decorate a click command with --config/-c and --set/-s (repeatable)."""
    f = click.option(
        "--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
        help="Override a config value, e.g. --set ray.num_cpus=2 (repeatable).",
    )(f)
    f = click.option(
        "--config", "-c", "config_path", type=click.Path(dir_okay=False), default=None,
        help="YAML config file (keys as in the stage's config).",
    )(f)
    return f


def build_config(cls, config_path, overrides, **shortcuts):
    """Load a stage config; non-None keyword shortcuts (e.g. --output) act as overrides. An
    error without a config file names the command (`vdgray embed: key model: ...`)."""
    extra = [f"{k}={v}" for k, v in shortcuts.items() if v is not None]
    ctx = click.get_current_context(silent=True)
    name = ctx.command_path if ctx is not None else "overrides"
    return load_config(cls, config_path, list(extra) + list(overrides), name=name)
