"""A click group built from a table of subcommands, each imported only when invoked.

`vdgray` and `vdgray bench` are such groups: their help lists the table's one-line texts
without importing Ray, torch or any stage module, so `--help` is instant.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """`table`: name -> ("module:attribute" of a click.Command, one-line help); `section`
    titles the list in the group's help."""

    def __init__(self, *args, table: dict[str, tuple[str, str]], section: str = "Commands",
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.table = table
        self.section = section

    def list_commands(self, ctx):
        return list(self.table)

    def get_command(self, ctx, name):
        if name not in self.table:
            return None
        module, attr = self.table[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        with formatter.section(self.section):
            formatter.write_dl([(name, help_) for name, (_, help_) in self.table.items()])
