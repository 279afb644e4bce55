"""What the synthetic world contains, as pure deterministic functions (no I/O, no Ray).

Every image's scene and pixels come from a generator seeded by (seed, stream, index...), so
the output is the same however the work is split into Ray blocks, shards or workers.
- Auxiliary gallery: image i belongs to family i // family_size; member 0 is a random base
  scene and the others perturb it by 1-2 attributes, so nearest-neighbour mining finds
  pairs that differ in a nameable way at any gallery size.
- CIRR splits: groups of 6 (a base scene and 5 distinct perturbations); queries are
  (reference, delta, target) pairs inside a group whose scenes differ in 1 or 2 attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from vdgray.data.synthetic.attributes import Scene, diff_scenes, perturb, sample_scene
from vdgray.data.synthetic.language import caption, delta_text
from vdgray.data.synthetic.render import png_bytes, render

# Stream ids: which part of the world a generator belongs to.
AUX, TRAIN, VAL, TEST1 = 0, 1, 2, 3
SCENE, PIXELS, TEXT = 0, 1, 2
SPLIT_STREAM = {"train": TRAIN, "val": VAL, "test1": TEST1}
# CIRR split name -> (image name prefix, img_raw sub-folder)
SPLIT_DIRS = {"train": ("train", "train"), "val": ("dev", "dev"), "test1": ("test1", "test1")}
GROUP_SIZE = 6
MAX_RESAMPLES = 200


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """The generator for one item of the world, independent of every other item."""
    return np.random.default_rng([int(seed), *(int(k) for k in keys)])


def aux_image_id(index: int) -> str:
    return f"aux-{index:08d}"


def n_changes(rng: np.random.Generator, two_change_prob: float) -> int:
    return 2 if rng.random() < two_change_prob else 1


@lru_cache(maxsize=256)
def _family_base(seed: int, family: int, two_object_prob: float) -> Scene:
    """A family's base scene (cached: a family's members are consecutive indices)."""
    return sample_scene(rng_for(seed, AUX, SCENE, family), two_object_prob)


def aux_scene(seed: int, index: int, two_object_prob: float, two_change_prob: float,
              family_size: int) -> Scene:
    """The scene of auxiliary image `index` (a family base, or a 1-2 change perturbation)."""
    family, member = divmod(int(index), family_size)
    base = _family_base(seed, family, two_object_prob)
    if member == 0:
        return base
    rng = rng_for(seed, AUX, SCENE, family, member)
    return perturb(base, rng, n_changes(rng, two_change_prob))[0]


class AuxRenderer:
    """Callable batch class: {"id": indices} -> image_id, image (PNG), caption, attributes."""

    def __init__(self, seed: int, image_size: int = 64, noise: float = 0.5,
                 two_object_prob: float = 0.3, two_change_prob: float = 0.3,
                 family_size: int = 4):
        self.seed, self.image_size, self.noise = seed, image_size, noise
        self.two_object_prob, self.two_change_prob = two_object_prob, two_change_prob
        self.family_size = family_size

    def scene(self, index: int) -> Scene:
        return aux_scene(self.seed, index, self.two_object_prob, self.two_change_prob,
                         self.family_size)

    def image(self, index: int) -> tuple[Image.Image, str]:
        """Auxiliary image `index` as a PIL image, with its caption (no PNG round trip)."""
        scene = self.scene(index)
        img = render(scene, self.image_size, rng_for(self.seed, AUX, PIXELS, index), self.noise)
        return img, caption(scene)

    def row(self, index: int) -> tuple[str, bytes, str, str]:
        img, text = self.image(index)
        return aux_image_id(index), png_bytes(img), text, self.scene(index).to_json()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [self.row(int(i)) for i in batch["id"]]
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        out = {}
        for name, values in zip(("image_id", "image", "caption", "attributes"), cols, strict=True):
            arr = np.empty(len(values), dtype=object)
            arr[:] = list(values)
            out[name] = arr
        return out


@dataclass
class SplitPlan:
    """The images and queries of one CIRR split, before rendering."""

    split: str
    scenes: dict[str, Scene] = field(default_factory=dict)      # name -> scene, in order
    groups: list[tuple[int, list[str]]] = field(default_factory=list)  # (group id, members)
    queries: list[dict[str, Any]] = field(default_factory=list)


def image_name(split: str, group: int, member: int) -> str:
    """CIRR-style name, e.g. 'dev-12-3-img0'."""
    return f"{SPLIT_DIRS[split][0]}-{group}-{member}-img0"


def _fresh(rng, make, seen: set[Scene]) -> Scene:
    """`make(rng)` resampled until the scene is new in this split (or the tries run out)."""
    scene = make(rng)
    for _ in range(MAX_RESAMPLES):
        if scene not in seen:
            break
        scene = make(rng)
    seen.add(scene)
    return scene


def _group_scenes(seed: int, split: str, group: int, two_object_prob: float,
                  two_change_prob: float, seen: set[Scene]) -> list[Scene]:
    rng = rng_for(seed, SPLIT_STREAM[split], SCENE, group)
    base = _fresh(rng, lambda r: sample_scene(r, two_object_prob), seen)
    members = [base]
    for _ in range(GROUP_SIZE - 1):
        members.append(_fresh(rng, lambda r: perturb(base, r, n_changes(r, two_change_prob))[0],
                              seen))
    return members


def _pick_pairs(scenes: list[Scene], rng: np.random.Generator, k: int,
                two_change_prob: float) -> list[tuple[int, int, list[dict]]]:
    """Up to k distinct ordered (reference, target) pairs that differ in 1 or 2 attributes."""
    by_size: dict[int, list[tuple[int, int, list[dict]]]] = {1: [], 2: []}
    for r in range(len(scenes)):
        for t in range(len(scenes)):
            if r != t:
                d = diff_scenes(scenes[r], scenes[t])
                if len(d) in by_size:
                    by_size[len(d)].append((r, t, d))
    out = []
    for _ in range(k):
        want = n_changes(rng, two_change_prob)
        pool = by_size[want] or by_size[3 - want]
        if not pool:
            break
        out.append(pool.pop(int(rng.integers(len(pool)))))
    return out


def plan_split(split: str, n_queries: int, seed: int, two_object_prob: float = 0.3,
               two_change_prob: float = 0.3, queries_per_group: int = 4) -> SplitPlan:
    """Scenes, groups and queries (with true changes and delta text) of one CIRR split."""
    plan = SplitPlan(split)
    seen: set[Scene] = set()
    group = 0
    while len(plan.queries) < n_queries:
        scenes = _group_scenes(seed, split, group, two_object_prob, two_change_prob, seen)
        names = [image_name(split, group, m) for m in range(GROUP_SIZE)]
        rng = rng_for(seed, SPLIT_STREAM[split], TEXT, group)
        k = min(queries_per_group, n_queries - len(plan.queries))
        pairs = _pick_pairs(scenes, rng, k, two_change_prob)
        for r, t, changes in pairs:
            plan.queries.append({
                "pairid": len(plan.queries), "reference": names[r], "target": names[t],
                "caption": delta_text(changes, scenes[r], rng), "changes": changes,
                "group": group, "members": names,
            })
        plan.scenes.update(zip(names, scenes, strict=True))
        plan.groups.append((group, names))
        group += 1
    return plan


def cirr_record(query: dict[str, Any], split: str) -> dict[str, Any]:
    """One record of cap.rc2.<split>.json (test1 has no target keys, as in official CIRR)."""
    rec: dict[str, Any] = {"pairid": query["pairid"], "reference": query["reference"]}
    if split != "test1":
        rec["target_hard"] = query["target"]
        rec["target_soft"] = {query["target"]: 1.0}
    rec["caption"] = query["caption"]
    rec["img_set"] = {"id": query["group"], "members": list(query["members"])}
    return rec


def split_index(plan: SplitPlan) -> dict[str, str]:
    """split.rc2.<split>.json: name -> path relative to cirr/img_raw/."""
    sub = SPLIT_DIRS[plan.split][1]
    return {name: f"./{sub}/{name}.png" for name in plan.scenes}


def render_named(plan: SplitPlan, name: str, seed: int, image_size: int, noise: float) -> bytes:
    """PNG bytes of one CIRR image (seeded by split, group and member)."""
    _, group, member, _ = name.rsplit("-", 3)
    rng = rng_for(seed, SPLIT_STREAM[plan.split], PIXELS, int(group), int(member))
    return png_bytes(render(plan.scenes[name], image_size, rng, noise))
