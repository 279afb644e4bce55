"""A click group built from a table of subcommands, each imported only when invoked.

`vdgray` and `vdgray bench` are such groups: their help lists the table's one-line texts
without importing Ray, torch or any stage module, so `--help` is instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click


class LazyGroup(click.Group):
    """`table`: name -> ("module:attribute" of a click.Command, one-line help); `section`
    titles the list in the group's help; `on_load(name, command)` finishes a command once it
    is imported (the CLI adds each stage's config keys to its help there)."""

    def __init__(self, *args, table: dict[str, tuple[str, str]], section: str = "Commands",
                 on_load: Callable[[str, click.Command], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.table = table
        self.section = section
        self.on_load = on_load

    def list_commands(self, ctx):
        return list(self.table)

    def get_command(self, ctx, name):
        if name not in self.table:
            return None
        module, attr = self.table[name][0].split(":")
        command = getattr(importlib.import_module(module), attr)
        if self.on_load is not None:
            self.on_load(name, command)
        return command

    def format_commands(self, ctx, formatter):
        with formatter.section(self.section):
            formatter.write_dl([(name, help_) for name, (_, help_) in self.table.items()])
