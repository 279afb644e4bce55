"""Publishing a finished run: the final checkpoint becomes the model dir at `output`.

A checkpoint holds the model plus what only a resume needs (`train_state.pt`, `rng_state.pt`); the published
dir holds the model alone. The output is cleared first (local or s3://) so no file of an
earlier model stays next to the new one; the caller writes the manifest after, last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from vdgray import storage
from vdgray.train.worker import RNG_STATE, TRAIN_STATE


def copy_model_files(checkpoint_dir: str, local: Path) -> None:
    """The checkpoint's HF files as they are, without the optimizer and random state (or dotfiles)."""
    shutil.copytree(checkpoint_dir, local, ignore=shutil.ignore_patterns(TRAIN_STATE, RNG_STATE, ".*"))


def publish(checkpoint, output: str,
            build: Callable[[str, Path], None] = copy_model_files) -> list[str]:
    """Write the model dir that `build(checkpoint dir, local dir)` makes to `output`; return
    its file names (relative to `output`)."""
    from vdgray.models.checkpoint import upload_dir

    with checkpoint.as_directory() as d, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp, "model")
        build(d, local)
        if storage.is_s3(output):
            storage.delete_prefix(output)
        else:
            shutil.rmtree(output, ignore_errors=True)
            os.makedirs(output, exist_ok=True)
        return upload_dir(local, output)
