"""`vdgray vdg assemble|export`: build a VDG dir, and merge a trained one for serving.

The group only; each subcommand lives beside its stage (`vdg_assemble`, `vdg_export`).
"""

from __future__ import annotations

import click

from vdgray.stages import vdg_assemble, vdg_export


@click.group("vdg")
def command():
    """Visual Delta Generator model dirs: assemble and export."""


command.add_command(vdg_assemble.command)
command.add_command(vdg_export.command)
