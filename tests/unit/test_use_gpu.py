"""`use_gpu`: one type (UseGpu) and one meaning (resolve_use_gpu: auto = the Ray cluster has
a GPU), the same in every stage."""

from typing import get_args

import pytest
from pydantic import Field

from vdgray.config import StageConfig, UseGpu, load_config
from vdgray.errors import ConfigError
from vdgray.runtime import resolve_use_gpu
from vdgray.serve.config import ServeConfig
from vdgray.stages.embed import EmbedConfig
from vdgray.stages.eval_cir import EvalConfig
from vdgray.stages.generate.stage import GenerateConfig
from vdgray.stages.index import IndexConfig
from vdgray.stages.mine import MineConfig
from vdgray.train.ray_run import TrainRunConfig


class Gpu(StageConfig):
    use_gpu: UseGpu = Field("auto")


@pytest.mark.parametrize("given, value", [
    ("auto", "auto"), ("AUTO", "auto"), ("true", True), ("True", True), ("false", False),
    (True, True), (False, False),
])
def test_use_gpu_is_normalised_to_auto_or_a_bool(given, value):
    assert Gpu(use_gpu=given).use_gpu == value
    assert load_config(Gpu, None, [f"use_gpu={given}"]).use_gpu == value


def test_use_gpu_rejects_other_words_naming_the_key():
    with pytest.raises(ConfigError, match="key use_gpu"):
        load_config(Gpu, None, ["use_gpu=sometimes"])


def test_every_gpu_switch_has_the_one_type():
    for cls, key in [(EmbedConfig, "use_gpu"), (IndexConfig, "use_gpu"), (IndexConfig, "embed_gpu"),
                     (MineConfig, "use_gpu"), (GenerateConfig, "use_gpu"),
                     (TrainRunConfig, "use_gpu"), (EvalConfig, "use_gpu"),
                     (ServeConfig, "faiss_gpu")]:
        field = cls.model_fields[key]
        assert (field.annotation, *field.metadata) == get_args(UseGpu), (cls.__name__, key)


def test_auto_means_the_cluster_has_a_gpu():
    assert resolve_use_gpu("auto", 0) is False
    assert resolve_use_gpu("auto", 1) is True
    assert resolve_use_gpu("auto", 0.5) is False
    assert resolve_use_gpu(True, 0) is True  # asks for GPUs: the plan check refuses a fixed Ray
    assert resolve_use_gpu(False, 4) is False


def test_without_ray_up_auto_is_no_gpu(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    assert resolve_use_gpu("auto") is False


def test_on_a_cpu_cluster_every_default_resolves_to_no_gpu(monkeypatch):
    import ray

    from vdgray.index import faiss_index

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    for cls, key in [(EmbedConfig, "use_gpu"), (IndexConfig, "embed_gpu"),
                     (GenerateConfig, "use_gpu"), (TrainRunConfig, "use_gpu"),
                     (EvalConfig, "use_gpu")]:
        assert resolve_use_gpu(cls.model_fields[key].default) is False, (cls.__name__, key)
    for cls, key in [(IndexConfig, "use_gpu"), (MineConfig, "use_gpu")]:
        assert faiss_index.want_gpu(cls.model_fields[key].default) is False, (cls.__name__, key)


def test_faiss_auto_needs_the_cluster_and_a_faiss_gpu_build(monkeypatch):
    import ray

    from vdgray.index import faiss_index

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": 1.0})
    monkeypatch.setattr(faiss_index, "gpus_available", lambda: 0)
    assert faiss_index.want_gpu("auto") is False  # no faiss GPU build
    with pytest.raises(ConfigError, match="use_gpu"):
        faiss_index.want_gpu(True)
    monkeypatch.setattr(faiss_index, "gpus_available", lambda: 1)
    assert faiss_index.want_gpu("auto") is True
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    assert faiss_index.want_gpu("auto") is False  # faiss sees one, but the cluster has none


def test_generate_auto_follows_the_cluster_not_the_drivers_cuda(tmp_path, monkeypatch):
    import ray
    import torch

    cfg = load_config(GenerateConfig, None, [f"{k}={tmp_path / k}"
                                             for k in ("pairs", "gallery", "model", "output")])
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    assert cfg.want_gpu() is False
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": 2.0})
    assert cfg.want_gpu() is True
