"""Each command's `--help` lists its config keys, generated from the pydantic schema.

The one generator of that list: every field, nested sections dotted (`human.format`,
`ray.num_cpus`), with its type, its default (or `required`) and its description, so the help
can never disagree with what `--set` and `--config` accept. `attach` is the CLI's hook
(`LazyGroup(on_load=...)`): it finds a command's config class in the stage table and adds the
list to the command's help when the command is imported, never for `vdgray --help`.
"""

from __future__ import annotations

import importlib
import json
import textwrap
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import click

HEADING = "Config keys (--set KEY=VALUE or in the --config YAML; nested keys dotted)"
KEY_COLUMN = 26  # longer keys get a line of their own


def type_text(annotation: Any) -> str:
    """A compact type as a user writes the value: `int|null`, `cirr|fashioniq|world`."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return type_text(get_args(annotation)[0])
    if origin is Literal:
        return "|".join(value_text(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return "|".join(type_text(a) for a in get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin in (list, tuple, set, frozenset):
        inner = [type_text(a) for a in get_args(annotation) if a is not Ellipsis]
        return f"list[{'|'.join(dict.fromkeys(inner))}]" if inner else "list"
    if origin is dict or annotation is dict:
        return "mapping"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def value_text(value: Any) -> str:
    """A value as it is written after `--set KEY=`: strings bare, the rest as JSON/YAML."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, default=str)


def default_text(field) -> str:
    """`required`, or `default VALUE` (a default factory is called)."""
    if field.is_required():
        return "required"
    return f"default {value_text(field.get_default(call_default_factory=True))}"


def keys(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, pydantic FieldInfo) of every leaf setting of `cls`, in schema order."""
    from vdgray.config import nested_model

    out = []
    for name, field in cls.model_fields.items():
        nested = nested_model(field.annotation)
        if nested is not None:
            out += keys(nested, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", field))
    return out


def rows(cls: type) -> list[tuple[str, str]]:
    """(key, "TYPE, default VALUE. Description") per setting."""
    return [(key, f"{type_text(f.annotation)}, {default_text(f)}. {f.description or ''}".rstrip())
            for key, f in keys(cls)]


def section(cls: type, width: int | None = None) -> str:
    """The help section listing `cls`'s settings: keys in a column, the rest wrapped beside
    them (never inside a word or at a hyphen, so `tiny-clip` and URIs stay whole)."""
    width = width or click.HelpFormatter().width - 2  # the epilog is indented by 2
    items = rows(cls)
    col = min(max(len(k) for k, _ in items), KEY_COLUMN) + 2
    lines = [f"{HEADING}:"]
    for key, text in items:
        first = f"  {key.ljust(col)}"
        if len(key) > KEY_COLUMN:
            lines.append(f"  {key}")
            first = " " * (col + 2)
        lines += textwrap.wrap(text, width=width, initial_indent=first,
                               subsequent_indent=" " * (col + 2), break_long_words=False,
                               break_on_hyphens=False) or [first.rstrip()]
    return "\n".join(lines)


def load_class(target: str) -> type:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def attach(name: str, command: click.Command) -> None:
    """Add the config section to `command` (and to its subcommands, for a group) once."""
    from vdgray.stages.table import command_configs

    _attach(command, name, command_configs())


def _attach(command: click.Command, path: str, configs: dict[str, str]) -> None:
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            _attach(sub, f"{path} {sub_name}", configs)
    if path not in configs or getattr(command, "_config_help", False):
        return
    # "\b" keeps click from re-wrapping the lines into one paragraph.
    text = "\b\n" + section(load_class(configs[path]))
    command.epilog = f"{command.epilog}\n\n{text}" if command.epilog else text
    command._config_help = True
