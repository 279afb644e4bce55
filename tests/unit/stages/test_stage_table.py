"""The stage table is the one list of stages: the CLI, the pipeline, jobs/ and docs/pipeline.md agree."""

import re

from helpers.paths import ROOT

from vdgray.cli import COMMANDS
from vdgray.pipeline import JOB_GROUPS, STAGES
from vdgray.stages import table

PIPELINE_DOC = ROOT / "docs" / "pipeline.md"


def test_each_stage_and_command_is_named_once():
    names = [s.name for s in table.STAGE_TABLE]
    assert len(names) == len(set(names))
    commands = [c.name for c in table.COMMAND_TABLE]
    assert len(commands) == len(set(commands))
    assert list(STAGES) == names and list(COMMANDS) == commands


def test_every_stage_names_a_command_that_exists_and_loads():
    for s in table.STAGE_TABLE:
        assert s.cli is None or s.cli.split()[0] in COMMANDS, s
        cls, run = s.load()
        assert callable(run) and hasattr(cls, "model_fields"), s


def test_jobs_dir_holds_exactly_the_scripts_the_table_builds():
    jobs_dir = ROOT / "jobs"
    on_disk = {p.name for p in jobs_dir.glob("*.py")}
    built = {table.job_script_name(j) for j in table.jobs()}
    assert on_disk == built | {table.job_script_name(table.PIPELINE_JOB)}
    for job in table.jobs():
        text = (jobs_dir / table.job_script_name(job)).read_text()
        assert text == table.job_script(job), (
            f"jobs/{table.job_script_name(job)} is out of date: "
            "run python -m vdgray.stages.table --write-jobs")


def test_job_groups_are_the_multi_stage_jobs():
    assert JOB_GROUPS == {"train-vdg": ("vdg-assemble", "vdg-lm", "vdg-align", "vdg-instruct",
                                        "vdg-export")}
    single = [j for j in table.jobs() if j not in JOB_GROUPS]
    assert all(j in STAGES for j in single)


def test_the_pipeline_table_lists_the_stages_in_order_with_their_outputs():
    block = PIPELINE_DOC.read_text().split("## The pipeline")[1].split("\n\n")[2]
    rows = [r for r in block.splitlines() if r.startswith("| `")]
    listed, outputs = [], []
    for row in rows:
        stage_cell, output_cell = row.split("|")[1:3]
        names = re.findall(r"`([a-z-]+)`", stage_cell)
        listed += names
        outs = re.findall(r"`([a-z/-]+)/`", output_cell)
        outputs += outs if outs else [None] * len(names)
    assert listed == list(STAGES)
    for name, out in zip(listed, outputs, strict=True):
        spec = STAGES[name]
        assert out == (spec.output if spec.manifest_stage else None), name


def test_submit_offers_the_pipeline_and_every_job(tmp_path):
    from vdgray.submit import command

    choices = command.params[0].type.choices
    assert list(choices) == [table.PIPELINE_JOB, *table.jobs()]
