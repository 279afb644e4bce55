"""The pipeline's wiring: which output each stage reads, and job scripts running one stage."""

import pytest

from vdgray.config import load_config
from vdgray.errors import ConfigError
from vdgray.pipeline import PipelineConfig, stage_config


def cfg(stages, **extra):
    over = ["output=/runs/p", f"stages=[{', '.join(stages)}]"]
    return load_config(PipelineConfig, None, over + [f"{k}={v}" for k, v in extra.items()])


def test_each_vdg_stage_starts_from_the_previous_one_in_the_run():
    c = cfg(["synth", "train-encoder", "vdg-assemble", "vdg-align", "vdg-instruct", "vdg-export",
             "eval-vdg"])
    assert stage_config(c, "vdg-assemble").vision == "/runs/p/encoder"
    align = stage_config(c, "vdg-align")
    assert (align.stage, align.model, align.output) == ("align", "/runs/p/vdg/assembled",
                                                        "/runs/p/vdg/align")
    assert stage_config(c, "vdg-instruct").model == "/runs/p/vdg/align"
    assert stage_config(c, "vdg-export").model == "/runs/p/vdg/instruct"
    assert stage_config(c, "eval-vdg").model == "/runs/p/vdg/export"


def test_a_run_without_vdg_stages_uses_the_configured_vdg_or_says_it_needs_one():
    c = cfg(["mine", "generate"], vdg="/models/llava")
    gen = stage_config(c, "generate")
    assert (gen.model, gen.pairs, gen.gallery) == ("/models/llava", "/runs/p/pairs",
                                                   "/runs/p/world/gallery")
    with pytest.raises(ConfigError, match="generate needs a VDG"):
        stage_config(cfg(["mine", "generate"]), "generate")


def test_retriever_trains_on_the_generated_triplets_only_when_the_run_generates_them():
    semi = stage_config(cfg(["generate", "train-cir"], vdg="/v"), "train-cir")
    assert semi.pseudo == "/runs/p/triplets" and semi.pseudo_gallery == "/runs/p/world/gallery"
    assert semi.model.encoder == "/runs/p/encoder"
    assert stage_config(cfg(["train-cir"]), "train-cir").pseudo == "none"


def test_nested_settings_merge_with_the_wiring():
    c = load_config(PipelineConfig, None, [
        "output=/runs/p", "stages=[train-cir, eval, index, serve-check]",
        "settings={train-cir: {model: {kind: combiner, settings: {train_backbone: text}}}}"])
    tc = stage_config(c, "train-cir")
    assert tc.model.encoder == "/runs/p/encoder" and tc.model.settings == {"train_backbone": "text"}
    ev = stage_config(c, "eval")
    assert ev.model == "/runs/p/cir/model" and ev.data.root == "/runs/p/world"
    ix = stage_config(c, "index")
    assert (ix.model, ix.gallery, ix.split) == ("/runs/p/cir/model", "/runs/p/world", "val")
    sc = stage_config(c, "serve-check")
    assert (sc.model, sc.index) == ("/runs/p/cir/model", "/runs/p/index")


def test_a_stage_job_given_a_pipeline_config_runs_only_its_stages(tmp_path, monkeypatch):
    from vdgray import jobs

    p = tmp_path / "pipe.yaml"
    p.write_text(f"output: {tmp_path / 'out'}\nstages: [mine, generate]\nvdg: /v\n")
    seen = {}
    monkeypatch.setattr(jobs, "run_pipeline", lambda c, only: seen.update(stages=c.stages,
                                                                          only=only))
    assert jobs.stage_main("generate", ["--config", str(p)]) == 0
    assert seen == {"stages": ["mine", "generate"], "only": ["generate"]}
    assert jobs.stage_main("train-vdg", ["--config", str(p)]) == 2  # no VDG stage in it


def test_human_root_format_is_detected_and_its_image_root_reaches_each_stage(tmp_path):
    from helpers.assets import CIRR_TINY, FASHIONIQ_TINY

    c = cfg(["vdg-align", "eval-vdg", "train-cir", "eval", "index"], vdg="/v",
            human_root=str(CIRR_TINY), human_image_root="/imgs")
    tc, ev, ix = (stage_config(c, s) for s in ("train-cir", "eval", "index"))
    assert (tc.human.format, tc.human.root, tc.human.image_root) == ("cirr", str(CIRR_TINY),
                                                                     "/imgs")
    assert (ev.data.format, ev.data.image_root) == ("cirr", "/imgs")
    assert (ix.gallery, ix.split, ix.image_root) == (str(CIRR_TINY), "val", "/imgs")
    assert stage_config(c, "vdg-align").cirr == str(CIRR_TINY)
    assert stage_config(c, "vdg-align").image_root == "/imgs"
    assert (stage_config(c, "eval-vdg").cirr, stage_config(c, "eval-vdg").image_root) == (
        str(CIRR_TINY), "/imgs")
    # without human_root the human triplets are the world's, with nothing to detect
    assert stage_config(cfg(["train-cir"]), "train-cir").human.format == "world"
    fiq = cfg(["train-cir"], human_root=str(FASHIONIQ_TINY))
    assert stage_config(fiq, "train-cir").human.format == "fashioniq"
    # an explicit format wins over detection
    forced = cfg(["train-cir"], human_root=str(FASHIONIQ_TINY), human_format="cirr")
    assert stage_config(forced, "train-cir").human.format == "cirr"
