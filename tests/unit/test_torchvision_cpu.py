"""vdgray.torchvision_cpu: a torchvision whose compiled ops do not load still imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_torchvision_without_loadable_ops_imports_and_nms_fails_loudly(tmp_path):
    # A stand-in for PyPI's CUDA-linked wheel beside a CPU torch: an unloadable _C.so, and
    # the unconditional fake registration torchvision 0.28 does at import.
    pkg = tmp_path / "torchvision"
    pkg.mkdir()
    (pkg / "_C.so").write_bytes(b"not a shared object")
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import torch
        @torch.library.register_fake("torchvision::nms")
        def meta_nms(dets, scores, iou_threshold):
            return dets.new_empty(0, dtype=torch.long)
    """))
    code = textwrap.dedent("""
        import torch
        import vdgray.torchvision_cpu as shim
        shim.install()
        import torchvision
        try:
            torch.ops.torchvision.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
        except NotImplementedError:
            print("nms has no CPU kernel")
    """)
    env_path = f"{tmp_path}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "nms has no CPU kernel" in out.stdout
    without = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True,
                             text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
                             timeout=120)
    assert "torchvision::nms does not exist" in without.stderr  # what the shim is for
