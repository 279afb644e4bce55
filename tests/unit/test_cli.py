"""The console script: its command table matches docs/commands.md, the README opens with the
two commands, errors are one line."""

import re

from helpers.paths import ROOT

from vdgray.cli import COMMANDS, main

README = ROOT / "README.md"
COMMANDS_DOC = ROOT / "docs" / "commands.md"


def test_the_commands_page_lists_exactly_the_commands():
    text = COMMANDS_DOC.read_text()
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


def test_the_readme_is_a_front_door_whose_commands_ci_runs():
    """Under 12 KB; its shell commands are the two set-up commands and the quickstart's, each
    of which `.ci/base_install_check.sh` (the demo, the server, the page) or `.ci/run` runs."""
    text = README.read_text()
    assert len(text.encode()) < 12_000
    blocks = text.split("```bash")[1:]
    commands = [line.split("#")[0].strip() for b in blocks for line in b.split("```")[0].splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh",
                        "bash scripts/demo.sh --size tiny", "source .venv/bin/activate",
                        "vdgray serve --model runs/demo-tiny/cir/model --index runs/demo-tiny/index"]
    check = (ROOT / ".ci" / "base_install_check.sh").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/demo.sh --size tiny" in check and "bash scripts/test.sh" in ci
    assert 'serve --model "$work/demo/cir/model" --index "$work/demo/index"' in check
    assert "/ui" in check and "for page in triplets eval" in check and "reports/$page.html" in check
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link
