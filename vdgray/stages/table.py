"""The one table of stages: each stage once, with its pipeline name, CLI command and job script.

`vdgray.cli.COMMANDS`, `vdgray.pipeline.STAGES`, the job groups that `vdgray.jobs` runs and
`vdgray submit` offers, and the scripts under `jobs/` are all built from these rows, so a
stage is added (or renamed) in one place. `tests/unit/stages/test_stage_table.py` checks the table
against docs/pipeline.md, docs/commands.md and `jobs/`; `python -m vdgray.stages.table --write-jobs` rewrites
the job scripts from it.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdgray import layout


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: where its code is, where it writes, and who runs it."""

    name: str  # the pipeline's name (`stages:`, `settings.<name>`)
    target: str  # "module:ConfigClass:run"
    output: str  # sub-prefix under the pipeline root
    manifest_stage: str | None  # the stage name its manifest carries (None: always runs)
    cli: str | None  # the `vdgray` command that runs it on its own ("vdg assemble": a subcommand)
    job: str | None  # the Ray job that runs it: jobs/<job with - as _>.py
    fixed: tuple[tuple[str, Any], ...] = ()  # config values the stage always gets

    def load(self):
        """(config class, run function) of the stage, imported now."""
        module, cls, fn = self.target.split(":")
        mod = importlib.import_module(module)
        return getattr(mod, cls), getattr(mod, fn)


@dataclass(frozen=True)
class Command:
    """One `vdgray` subcommand: its click command ("module:attribute") and one-line help;
    `config` ("module:Class") for a command that takes a config but runs no pipeline stage."""

    name: str
    target: str
    help: str
    config: str | None = None


_VDG_TRAIN = "vdgray.stages.train_vdg:TrainVdgConfig:run"
# In pipeline order.
STAGE_TABLE: tuple[Stage, ...] = (
    Stage("synth", "vdgray.stages.synth:SynthConfig:run", "world", layout.SYNTH_STAGE,
          "synth", "synth"),
    Stage("train-encoder", "vdgray.stages.train_encoder:TrainEncoderConfig:run", "encoder",
          layout.ENCODER_STAGE, "train-encoder", "train-encoder"),
    Stage("embed", "vdgray.stages.embed:EmbedConfig:run", "embeddings", layout.EMBEDDINGS_STAGE,
          "embed", "embed"),
    Stage("mine", "vdgray.stages.mine:MineConfig:run", "pairs", layout.PAIRS_STAGE, "mine", "mine"),
    Stage("vdg-assemble", "vdgray.stages.vdg_assemble:AssembleConfig:run", "vdg/assembled",
          layout.VDG_MODEL_STAGE, "vdg assemble", "train-vdg"),
    Stage("vdg-lm", _VDG_TRAIN, "vdg/lm", layout.VDG_MODEL_STAGE, "train-vdg", "train-vdg",
          (("stage", "lm"),)),
    Stage("vdg-align", _VDG_TRAIN, "vdg/align", layout.VDG_MODEL_STAGE, "train-vdg", "train-vdg",
          (("stage", "align"),)),
    Stage("vdg-instruct", _VDG_TRAIN, "vdg/instruct", layout.VDG_MODEL_STAGE, "train-vdg", "train-vdg",
          (("stage", "instruct"),)),
    Stage("vdg-export", "vdgray.stages.vdg_export:ExportConfig:run", "vdg/export",
          layout.VDG_MODEL_STAGE, "vdg export", "train-vdg"),
    Stage("eval-vdg", "vdgray.stages.eval_vdg:EvalVdgConfig:run", "vdg/eval", layout.VDG_EVAL_STAGE,
          "eval-vdg", "eval-vdg"),
    Stage("generate", "vdgray.stages.generate.stage:GenerateConfig:run", "triplets",
          layout.TRIPLETS_STAGE, "generate", "generate"),
    Stage("train-cir", "vdgray.stages.train_cir:TrainCirConfig:run", "cir/model",
          layout.CIR_MODEL_STAGE, "train-cir", "train-cir"),
    Stage("eval", "vdgray.stages.eval_cir:EvalConfig:run", "cir/eval", layout.EVAL_STAGE, "eval",
          "eval"),
    Stage("cir-claim", "vdgray.stages.cir_claim:ClaimConfig:run", "claim", layout.CLAIM_STAGE,
          "cir-claim", "cir-claim"),
    Stage("index", "vdgray.stages.index:IndexConfig:run", "index", layout.INDEX_STAGE, "index", "index"),
    # The demo's end-to-end check of the Serve app; `vdgray serve` is the long-running server.
    Stage("serve-check", "vdgray.stages.serve_check:ServeCheckConfig:run", "serve-check", None,
          None, None),
)

# In docs/commands.md's order. Stage commands first, then the tools around them.
COMMAND_TABLE: tuple[Command, ...] = (
    Command("synth", "vdgray.stages.synth:command", "Write a synthetic CIR world to a URI."),
    Command("train-encoder", "vdgray.stages.train_encoder:command",
            "Train a small CLIP on a synthetic world's image-caption pairs (Ray Train)."),
    Command("embed", "vdgray.stages.embed:command",
            "Embed a gallery with an image encoder (Ray Data)."),
    Command("mine", "vdgray.stages.mine:command",
            "Mine reference-target pairs from embeddings (FAISS, CIRR subgroups)."),
    Command("train-vdg", "vdgray.stages.train_vdg:command",
            "Train the Visual Delta Generator (stage lm|align|instruct) on Ray Train."),
    Command("vdg", "vdgray.stages.vdg:command",
            "Assemble or export a VDG (HF LLaVA) model dir."),
    Command("eval-vdg", "vdgray.stages.eval_vdg:command",
            "Delta quality of a VDG: BLEU-4, ROUGE-L, exact attribute match."),
    Command("generate", "vdgray.stages.generate.stage:command",
            "Generate pseudo triplets for mined pairs with a VDG: vdgray's or a llava-hf dir (Ray Data)."),
    Command("train-cir", "vdgray.stages.train_cir:command",
            "Train the CIR retriever (combiner or BLIP) on human + pseudo triplets."),
    Command("eval", "vdgray.stages.eval_cir:command",
            "Evaluate a retriever on CIRR / FashionIQ / the synthetic world; write rankings."),
    Command("index", "vdgray.stages.index:command",
            "Embed a gallery with a trained retriever and write a FAISS index for serving."),
    Command("serve", "vdgray.serve.cli:command",
            "Serve the retriever over HTTP (Ray Serve: FastAPI routes on the batched model).",
            config="vdgray.serve.config:ServeConfig"),
    Command("compare-eval", "vdgray.eval.cir_compare:command",
            "Side-by-side table and bar chart of several eval outputs."),
    Command("cir-claim", "vdgray.stages.cir_claim:command",
            "Supervised vs semi-supervised vs oracle retriever over seeds (gaps, share, chart)."),
    Command("demo", "vdgray.demo:command", "Run the whole pipeline on the built-in synthetic world.",
            config="vdgray.pipeline:PipelineConfig"),
    Command("submit", "vdgray.submit:command",
            "Submit a stage or the whole pipeline as a Ray job to a running cluster."),
    Command("bench", "vdgray.bench.cli:command", "Benchmarks: print a table and write JSON."),
    Command("report", "vdgray.report.cli:command",
            "An output as one offline HTML page with its images (report triplets)."),
)


def command_configs() -> dict[str, str]:
    """Command path ("embed", "vdg assemble") -> "module:Class" of the config it takes: each
    stage's own, and the `config` of the other commands that take one."""
    out = {s.cli: s.target.rsplit(":", 1)[0] for s in STAGE_TABLE if s.cli is not None}
    out.update({c.name: c.config for c in COMMAND_TABLE if c.config is not None})
    return out


PIPELINE_JOB = "pipeline"  # jobs/pipeline.py: the whole pipeline, not a row of the table


def jobs() -> dict[str, tuple[str, ...]]:
    """Job name -> the stages it runs, in pipeline order (one job per script under jobs/)."""
    out: dict[str, tuple[str, ...]] = {}
    for s in STAGE_TABLE:
        if s.job is not None:
            out[s.job] = (*out.get(s.job, ()), s.name)
    return out


def job_groups() -> dict[str, tuple[str, ...]]:
    """The jobs that are not one stage of the same name: they need a pipeline config to wire
    their stages (train-vdg = the VDG chain and its export)."""
    return {job: stages for job, stages in jobs().items() if stages != (job,)}


def job_script_name(job: str) -> str:
    return f"{job.replace('-', '_')}.py"


def job_script(job: str) -> str:
    """The text of jobs/<job>.py: a three-line entry that runs the job through vdgray.jobs."""
    stages = jobs()[job]
    script = job_script_name(job)
    usage = f"`python jobs/{script} --config jobs/configs/X.yaml [--set k=v ...]`"
    if stages == (job,):
        what = f"the `{job}` stage"
        config = ("The config is the stage's own config or a whole pipeline config (then only "
                  "this job's stages run).")
    else:
        what = "the stages " + ", ".join(f"`{s}`" for s in stages)
        config = ("The config is a whole pipeline config (the stages are wired there); the "
                  "stages of it listed in `stages` run.")
    return (f'"""Ray job: {what}. {usage}.\n\n{config}\nGenerated from vdgray.stages.table '
            f'(python -m vdgray.stages.table --write-jobs).\n"""\n\nimport sys\n\n'
            f"from vdgray.jobs import stage_main\n\n"
            f'if __name__ == "__main__":\n    sys.exit(stage_main("{job}"))\n')


def write_job_scripts(jobs_dir: Path) -> list[Path]:
    """Rewrite every stage job script under `jobs_dir` from the table."""
    written = []
    for job in jobs():
        path = jobs_dir / job_script_name(job)
        path.write_text(job_script(job))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    if sys.argv[1:] != ["--write-jobs"]:
        sys.exit("usage: python -m vdgray.stages.table --write-jobs")
    for p in write_job_scripts(Path(__file__).resolve().parents[2] / "jobs"):
        print(p)
