"""VDG on a GPU: bf16 generation of a merged export, and vLLM serving it with two images.

Skipped without CUDA (and the vLLM test without vllm installed).
"""

from __future__ import annotations

import pytest
import torch
from helpers.images import solid_png
from PIL import Image

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from vdgray.models.vdg.build import save_vdg, tiny_vdg

    path = tmp_path_factory.mktemp("vdg") / "exported"
    save_vdg(*tiny_vdg(), path)
    return path


def test_bf16_generation_matches_cpu_shape(exported):
    from vdgray.models.vdg.generate import DeltaGenerator

    gen = DeltaGenerator(str(exported), do_sample=False, max_new_tokens=6, device="cuda")
    gen.model.to(torch.bfloat16)
    out = gen({"reference_image": [solid_png((200, 0, 0))] * 3,
               "target_image": [solid_png((0, 0, 200))] * 3})
    assert len(out["text"]) == 3 and len(set(out["text"])) == 1


def test_vllm_serves_export_with_two_images(exported):
    vllm = pytest.importorskip("vllm")
    from vdgray.models.vdg.prompt import build_prompt

    llm = vllm.LLM(model=str(exported), limit_mm_per_prompt={"image": 2}, max_model_len=256,
                   gpu_memory_utilization=0.2, enforce_eager=True)
    images = [Image.new("RGB", (32, 32), (200, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 200))]
    params = vllm.SamplingParams(temperature=0, max_tokens=6)
    out = llm.generate({"prompt": build_prompt(), "multi_modal_data": {"image": images}}, params)
    assert len(out) == 1 and out[0].outputs
