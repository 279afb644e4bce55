"""Small synthetic worlds written by the synth stage, at the sizes each test asks for.

The one place the tests call the synth stage's entry point to build an input world (the synth
stage's own tests call it directly).
"""

from __future__ import annotations

from vdgray.stages.synth import SynthConfig
from vdgray.stages.synth import run as synth


def synth_world(uri: str, **sizes) -> str:
    """Write a synthetic world to `uri` with `sizes` (n_gallery, n_train, ... as SynthConfig
    names them), without progress bars; returns `uri`."""
    synth(SynthConfig(output=uri, progress=False, **sizes))
    return uri
