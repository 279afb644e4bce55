"""The console script: its command table matches the README, errors are one line."""

import re

from helpers.paths import ROOT

from vdgray.cli import COMMANDS, main

README = ROOT / "README.md"


def test_readme_lists_exactly_the_commands():
    text = README.read_text()
    block = text.split("<!-- commands-table")[1].split("<!-- /commands-table -->")[0]
    listed = re.findall(r"^\| `vdgray ([a-z-]+)`", block, flags=re.M)
    assert listed == list(COMMANDS)


def test_readme_opens_with_the_two_commands():
    first_block = README.read_text().split("```bash")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    for c in commands:
        assert (README.parent / c.split()[1]).is_file()


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_every_command_imports():
    from vdgray.cli import cli

    for name in COMMANDS:
        assert cli.get_command(None, name) is not None, name


def test_bad_config_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output: x\nn_galery: 3\n")
    assert main(["synth", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "n_galery: unknown key" in err[0] and str(bad) in err[0]


def test_bad_uri_is_one_line_error(capsys):
    assert main(["synth", "--output", "gs://bucket/world"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "gs://bucket/world: unsupported scheme 'gs' (expected a local path or s3://bucket/prefix)" in err[0]
