"""scripts/gpu_check.sh (run by hand on a GPU machine, never in CI) stays runnable: its syntax,
and every `vdgray` command it would run, as its --dry-run prints them, is one the CLI accepts
(the command exists, every option and every --set key is one it knows)."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
from click.testing import CliRunner
from helpers.paths import ROOT

SCRIPT = ROOT / "scripts" / "gpu_check.sh"
PARTS = {"train_vdg_bf16", "embed", "faiss_index", "generate_vllm"}


def dry_run() -> list[tuple[str, str, list[str]]]:
    r = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = [line.split(" ", 2) for line in r.stdout.splitlines()]
    return [(part, path, shlex.split(cmd)) for part, path, cmd in lines]


def test_the_script_parses():
    r = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_each_part_has_a_cpu_and_a_gpu_path_on_the_gpu():
    runs = {(part, path): dict(a.split("=", 1) for a in _sets(cmd))
            for part, path, cmd in dry_run()}
    assert {(p, k) for p in PARTS for k in ("cpu", "gpu")} <= set(runs)
    for part in PARTS:
        assert runs[(part, "gpu")]["use_gpu"] == "true", part
        assert runs[(part, "cpu")]["use_gpu"] == "false", part
    assert runs[("generate_vllm", "gpu")]["backend"] == "vllm"
    assert runs[("train_vdg_bf16", "gpu")]["bf16"] == "true"


def _sets(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--set", "-s")]


def _command_words(cmd: list[str]) -> list[str]:
    words = []
    for a in cmd[1:]:
        if a.startswith("-"):
            break
        words.append(a)
    return words


def check_command(cmd: list[str]) -> list[str]:
    """What the CLI would refuse in one command line ([] when it accepts it)."""
    from vdgray.cli import cli

    assert cmd[0] == "vdgray", cmd
    words = _command_words(cmd)
    r = CliRunner().invoke(cli, cmd[1:] + ["--help"], prog_name="vdgray")
    if r.exit_code != 0 or not r.output.startswith(f"Usage: vdgray {' '.join(words)} "):
        return [f"`vdgray {' '.join(words)}` refuses {cmd[1 + len(words):]}: {r.output[-300:]}"]
    keys = set(re.findall(r"^    ([a-z_][a-z0-9_.]*) ", r.output, flags=re.M))
    return [f"`vdgray {' '.join(words)}` has no config key {s.split('=')[0]!r}"
            for s in _sets(cmd) if s.split("=")[0] not in keys]


@pytest.mark.parametrize("part,path,cmd", dry_run(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_it_runs_is_one_vdgray_accepts(part, path, cmd):
    assert check_command(cmd) == []


def test_a_command_vdgray_would_refuse_is_caught():
    """The check above can fail: a gone option, a gone key and a gone command are named."""
    assert check_command(["vdgray", "embed", "--no-such-option", "x"])
    assert check_command(["vdgray", "embed", "--set", "no_such_key=1"]) == [
        "`vdgray embed` has no config key 'no_such_key'"]
    assert check_command(["vdgray", "no-such-command", "-o", "x"])
