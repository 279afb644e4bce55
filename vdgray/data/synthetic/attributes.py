"""The synthetic world's vocabulary and scenes: what can be in an image and how it can change.

A scene is a background colour plus one or two objects (shape, colour, size, position on a
3x3 grid). Object colours and background colours are disjoint vocabularies, so an object is
never drawn in its background's colour and every colour word says which it refers to.
`perturb` makes the related scenes CIR needs (1 or 2 attribute changes, recorded exactly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "diamond", "cross")
COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
SIZES: tuple[str, ...] = ("small", "medium", "large")
POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)
BACKGROUNDS: tuple[str, ...] = ("gray", "black", "white", "beige")

RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 130, 20),
    "yellow": (240, 220, 30),
    "green": (40, 170, 60),
    "blue": (35, 80, 230),
    "purple": (140, 50, 190),
    "pink": (250, 120, 190),
    "brown": (125, 75, 30),
    "gray": (128, 128, 128),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
    "beige": (225, 210, 170),
}

OBJECT_ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "size", "position")
ATTRIBUTES: tuple[str, ...] = (*OBJECT_ATTRIBUTES, "background")
VOCAB: dict[str, tuple[str, ...]] = {
    "shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS,
    "background": BACKGROUNDS,
}


@dataclass(frozen=True)
class SceneObject:
    """One drawn object; every field is a word from its vocabulary."""

    shape: str
    colour: str
    size: str
    position: str

    def get(self, attribute: str) -> str:
        return getattr(self, attribute)


@dataclass(frozen=True)
class Scene:
    """A background colour and one or two objects at distinct grid positions."""

    background: str
    objects: tuple[SceneObject, ...]

    def __post_init__(self) -> None:
        validate_scene(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "background": self.background,
            "objects": [
                {"shape": o.shape, "colour": o.colour, "size": o.size, "position": o.position}
                for o in self.objects
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scene:
        try:
            objs = tuple(
                SceneObject(o["shape"], o["colour"], o["size"], o["position"])
                for o in d["objects"]
            )
            return cls(d["background"], objs)
        except (KeyError, TypeError) as e:
            raise ValueError(f"scene attributes: missing or malformed field {e}") from None

    @classmethod
    def from_json(cls, text: str) -> Scene:
        return cls.from_dict(json.loads(text))


def validate_scene(scene: Scene) -> None:
    """Raise ValueError if a scene breaks the world's rules (unknown word, shared position)."""
    if scene.background not in BACKGROUNDS:
        raise ValueError(f"scene: unknown background {scene.background!r}")
    if not 1 <= len(scene.objects) <= 2:
        raise ValueError(f"scene: expected 1 or 2 objects, got {len(scene.objects)}")
    for i, o in enumerate(scene.objects):
        for attr in OBJECT_ATTRIBUTES:
            if o.get(attr) not in VOCAB[attr]:
                raise ValueError(f"scene: object {i} has unknown {attr} {o.get(attr)!r}")
    if len({o.position for o in scene.objects}) != len(scene.objects):
        raise ValueError("scene: two objects share a position")


def _choice(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def sample_scene(rng: np.random.Generator, two_object_prob: float = 0.3) -> Scene:
    """A uniformly random scene; two objects with probability `two_object_prob`."""
    n = 2 if rng.random() < two_object_prob else 1
    positions = rng.choice(len(POSITIONS), size=n, replace=False)
    objs = tuple(
        SceneObject(_choice(rng, SHAPES), _choice(rng, COLOURS), _choice(rng, SIZES),
                    POSITIONS[int(p)])
        for p in positions
    )
    return Scene(_choice(rng, BACKGROUNDS), objs)


def _slots(scene: Scene) -> list[tuple[int | None, str]]:
    """Every (object index, attribute) that can change; (None, 'background') for the background."""
    out: list[tuple[int | None, str]] = [(None, "background")]
    for i in range(len(scene.objects)):
        out.extend((i, a) for a in OBJECT_ATTRIBUTES)
    return out


def apply_change(scene: Scene, obj: int | None, attribute: str, value: str) -> Scene:
    """The scene with one attribute set (ValueError if the result breaks the rules)."""
    if obj is None:
        if attribute != "background":
            raise ValueError(f"change: attribute {attribute!r} needs an object index")
        return Scene(value, scene.objects)
    if attribute not in OBJECT_ATTRIBUTES:
        raise ValueError(f"change: unknown object attribute {attribute!r}")
    if not 0 <= obj < len(scene.objects):
        raise ValueError(f"change: no object {obj} in a scene of {len(scene.objects)}")
    objs = list(scene.objects)
    objs[obj] = replace(objs[obj], **{attribute: value})
    return Scene(scene.background, tuple(objs))


def perturb(scene: Scene, rng: np.random.Generator, n_changes: int = 1
            ) -> tuple[Scene, list[dict[str, Any]]]:
    """Change exactly `n_changes` (1 or 2) distinct attributes; returns (new scene, changes).

    Each change is {"object": index or None, "attribute": ..., "from": old, "to": new}.
    """
    if n_changes not in (1, 2):
        raise ValueError(f"perturb: n_changes must be 1 or 2, got {n_changes}")
    slots = _slots(scene)
    picked = rng.choice(len(slots), size=n_changes, replace=False)
    changes: list[dict[str, Any]] = []
    for k in sorted(int(p) for p in picked):
        obj, attr = slots[k]
        old = scene.background if obj is None else scene.objects[obj].get(attr)
        options = [v for v in VOCAB[attr] if v != old]
        if attr == "position":
            taken = {o.position for j, o in enumerate(scene.objects) if j != obj}
            options = [v for v in options if v not in taken]
        new = _choice(rng, options)
        scene = apply_change(scene, obj, attr, new)
        changes.append({"object": obj, "attribute": attr, "from": old, "to": new})
    return scene, changes


def diff_scenes(a: Scene, b: Scene) -> list[dict[str, Any]]:
    """The changes that turn scene `a` into scene `b` (objects matched by index)."""
    if len(a.objects) != len(b.objects):
        raise ValueError("diff_scenes: scenes have different numbers of objects")
    out: list[dict[str, Any]] = []
    if a.background != b.background:
        out.append({"object": None, "attribute": "background", "from": a.background,
                    "to": b.background})
    for i, (oa, ob) in enumerate(zip(a.objects, b.objects, strict=True)):
        for attr in OBJECT_ATTRIBUTES:
            if oa.get(attr) != ob.get(attr):
                out.append({"object": i, "attribute": attr, "from": oa.get(attr),
                            "to": ob.get(attr)})
    return out
