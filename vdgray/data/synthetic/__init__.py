"""The synthetic CIR world: procedural scenes whose captions and deltas are known exactly.

`vdgray synth` (vdgray.stages.synth) writes it; the pieces others build on are re-exported here.
"""

from vdgray.data.synthetic.attributes import Scene, SceneObject, diff_scenes, perturb, sample_scene
from vdgray.data.synthetic.language import (
    Change,
    caption,
    change_key,
    delta_text,
    parse_delta,
)
from vdgray.data.synthetic.render import decode_png, png_bytes, render

__all__ = [
    "Change", "Scene", "SceneObject", "caption", "change_key", "decode_png", "delta_text",
    "diff_scenes", "parse_delta", "perturb", "png_bytes", "render", "sample_scene",
]
