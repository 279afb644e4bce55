"""Every command that takes a config lists each of its keys in `--help`, with its default."""

from __future__ import annotations

import json
import re
import types
from typing import Union, get_args, get_origin

import click
import pytest
from pydantic import BaseModel

from vdgray.cli import COMMANDS, cli, main
from vdgray.config_help import load_class
from vdgray.stages.table import command_configs

CONFIGS = command_configs()


def _section(annotation) -> type[BaseModel] | None:
    """The model a field holds, read here from the annotation (not through vdgray's code)."""
    for t in (annotation, *get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t is annotation or get_origin(annotation) in (Union, types.UnionType):
                return t
    return None


def _leaves(cls: type[BaseModel], prefix: str = ""):
    for name, field in cls.model_fields.items():
        nested = _section(field.annotation)
        if nested is not None:
            yield from _leaves(nested, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def _expected_default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return "default " + (value if isinstance(value, str) and value else json.dumps(value))


def _help(path: str, capsys) -> str:
    assert main([*path.split(), "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # wrapping undone


@pytest.mark.parametrize("path", sorted(CONFIGS))
def test_help_lists_every_key_with_its_type_and_default(path, capsys):
    text = _help(path, capsys)
    leaves = list(_leaves(load_class(CONFIGS[path])))
    assert leaves
    for key, field in leaves:
        entry = re.search(rf" {re.escape(key)} (\S+), {re.escape(_expected_default(field))}\.",
                          text)
        assert entry, f"vdgray {path} --help: no entry '{key} TYPE, {_expected_default(field)}.'"


def test_nested_keys_are_dotted(capsys):
    text = _help("train-cir", capsys)
    for key in ("human.format auto|world|cirr|fashioniq, default auto.", "human.root str, required.",
                "model.kind combiner|blip, default combiner.", "model.encoder str, required.",
                "pseudo_gallery str|null, default null.", "ray.num_cpus int|null, default null."):
        assert f" {key}" in text, key


def _commands(command: click.Command, path: str):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


def test_every_command_taking_a_config_has_its_class_in_the_table():
    taking = []
    for name in COMMANDS:
        for path, command in _commands(cli.get_command(None, name), name):
            if any(p.name == "overrides" for p in command.params):
                taking.append(path)
    assert "embed" in taking and "vdg assemble" in taking and "generate" in taking
    assert sorted(set(taking) - {"submit"}) == sorted(CONFIGS)


def test_model_options_say_tiny_names_are_test_models(capsys):
    for path in ("embed", "train-cir"):
        assert "random models for tests and benchmarks" in _help(path, capsys), path
