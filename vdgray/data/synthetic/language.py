"""Words for the synthetic world: captions, delta texts, and parsing a delta back to changes.

`delta_text` says how to turn a reference scene into a target in one of several phrasings
per change ("make it blue", "move the star to the top left", "replace the circle with a
square"), joined with " and ". `parse_delta` inverts every phrasing exactly, so a delta
written by the VDG can be scored against the true changes: compare `parse_delta(text, ref)`
with `change_key(true_changes)`. With two objects, texts name the object by a description
that is unique in the reference scene (its shape, colour + shape, size + shape, or shape +
location), and the parser resolves it against that scene.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from vdgray.data.synthetic.attributes import (
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
)


class Change(NamedTuple):
    """One attribute change: object index (None for the background), attribute, new value."""

    object: int | None
    attribute: str
    value: str


UNPARSED = "unparsed"  # attribute of a Change recording a clause parse_delta did not understand


def change_key(changes: Iterable[dict[str, Any] | Change]) -> frozenset[Change]:
    """True change dicts ({"object", "attribute", "to"}) or Changes as a comparable set."""
    out = set()
    for c in changes:
        if isinstance(c, Change):
            out.add(c)
        else:
            out.add(Change(c["object"], c["attribute"], c["to"]))
    return frozenset(out)


# ----------------------------------------------------------------------------- captions
def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def location(position: str) -> str:
    """A position with its preposition: 'in the top left', 'at the top', 'on the left'."""
    if position in ("top", "bottom"):
        return f"at the {position}"
    if position in ("left", "right"):
        return f"on the {position}"
    return f"in the {position}"


def describe_object(obj) -> str:
    return f"{article(obj.size)} {obj.size} {obj.colour} {obj.shape} {location(obj.position)}"


def caption(scene: Scene) -> str:
    """'a large red circle in the top left on a gray background' (two objects joined by and)."""
    objs = " and ".join(describe_object(o) for o in scene.objects)
    return f"{objs} on {article(scene.background)} {scene.background} background"


# ----------------------------------------------------------------------------- references
def refer_options(scene: Scene, index: int) -> list[str]:
    """Every way to name object `index` unambiguously in `scene` ('it' only when alone)."""
    obj = scene.objects[index]
    others = [o for j, o in enumerate(scene.objects) if j != index]
    opts = []
    if not others:
        opts.append("it")
    if all(o.shape != obj.shape for o in others):
        opts.append(f"the {obj.shape}")
    if all((o.colour, o.shape) != (obj.colour, obj.shape) for o in others):
        opts.append(f"the {obj.colour} {obj.shape}")
    if all((o.size, o.shape) != (obj.size, obj.shape) for o in others):
        opts.append(f"the {obj.size} {obj.shape}")
    opts.append(f"the {obj.shape} {location(obj.position)}")  # positions are always distinct
    return opts


_LOC_RE = re.compile(r" (?:in|at|on) the (" + "|".join(sorted(POSITIONS, key=len, reverse=True))
                     + r")$")


def resolve_reference(ref: str, scene: Scene | None) -> int | None:
    """The object index a reference names in `scene`, or None if unknown or ambiguous.

    Without a scene, every reference is taken to mean object 0 (single-object worlds).
    """
    if scene is None:
        return 0
    if ref == "it":
        return 0 if len(scene.objects) == 1 else None
    if not ref.startswith("the "):
        return None
    body = ref[4:]
    position = None
    m = _LOC_RE.search(body)
    if m:
        position, body = m.group(1), body[: m.start()]
    words = body.split()
    if not words or words[-1] not in SHAPES:
        return None
    want: dict[str, str] = {"shape": words[-1]}
    if position:
        want["position"] = position
    for w in words[:-1]:
        attr = "colour" if w in COLOURS else "size" if w in SIZES else None
        if attr is None or attr in want:
            return None
        want[attr] = w
    hits = [i for i, o in enumerate(scene.objects) if all(o.get(a) == v for a, v in want.items())]
    return hits[0] if len(hits) == 1 else None


# ----------------------------------------------------------------------------- phrasings
class Template(NamedTuple):
    """One phrasing: `{r}` the object reference, `{v}` the new value, `{a}` its article,
    `{old}` the old value. `ref` is 'any' (also 'it'), 'np' (a noun phrase, not 'it'),
    'none' (no reference: single-object scenes only). `kind` picks how the value is said."""

    text: str
    ref: str = "any"
    kind: str = "value"


TEMPLATES: dict[str, tuple[Template, ...]] = {
    "colour": (
        Template("make {r} {v}"),
        Template("turn {r} {v}"),
        Template("paint {r} {v}"),
        Template("change the colour of {r} to {v}", ref="np"),
        Template("change the colour to {v}", ref="none"),
        Template("{r} should be {v}"),
    ),
    "shape": (
        Template("replace {r} with {a} {v}"),
        Template("turn {r} into {a} {v}"),
        Template("make {r} {a} {v}"),
        Template("swap {r} for {a} {v}"),
        Template("change the shape of {r} to {a} {v}", ref="np"),
        Template("change the shape to {a} {v}", ref="none"),
    ),
    "size": (
        Template("make {r} {v}"),
        Template("change the size of {r} to {v}", ref="np"),
        Template("change the size to {v}", ref="none"),
        Template("resize {r} to {v}"),
        Template("make {r} {v}", kind="relative"),      # bigger / smaller / much bigger
        Template("{v} {r}", kind="verb"),                # enlarge / shrink (one step)
    ),
    "position": (
        Template("move {r} to the {v}"),
        Template("shift {r} to the {v}"),
        Template("put {r} {loc}"),
        Template("place {r} {loc}"),
        Template("change the position of {r} to the {v}", ref="np"),
        Template("move it to the {v}", ref="none"),
    ),
    "background": (
        Template("change the background to {v}", ref="none"),
        Template("make the background {v}", ref="none"),
        Template("set the background to {v}", ref="none"),
        Template("use {a} {v} background", ref="none"),
        Template("swap the {old} background for {a} {v} one", ref="none"),
        Template("put {r} on {a} {v} background"),
    ),
}

_REL_WORDS = {1: "bigger", 2: "much bigger", -1: "smaller", -2: "much smaller"}
_VERB_WORDS = {1: "enlarge", -1: "shrink"}


def applicable(template: Template, attribute: str, scene: Scene, obj: int | None,
               old: str, new: str) -> bool:
    """Whether a phrasing can express this change in this scene."""
    single = len(scene.objects) == 1
    if template.ref == "none" and attribute != "background" and not single:
        return False
    if attribute == "background" and "{r}" in template.text and not single:
        return False
    if template.text == "move it to the {v}" and not single:
        return False
    if attribute == "size" and template.kind != "value":
        step = SIZES.index(new) - SIZES.index(old)
        words = _REL_WORDS if template.kind == "relative" else _VERB_WORDS
        return step in words
    return True


def phrase_change(change: dict[str, Any], scene: Scene, rng: np.random.Generator,
                  template: int | None = None, ref: str | None = None) -> str:
    """One clause saying `change` ({"object", "attribute", "from", "to"}) about `scene`.

    `template` (an index into TEMPLATES[attribute]) and `ref` force a phrasing; by default
    both are drawn from `rng` among those that apply.
    """
    attr, obj, old, new = change["attribute"], change["object"], change["from"], change["to"]
    temps = TEMPLATES[attr]
    if template is None:
        ok = [k for k, t in enumerate(temps) if applicable(t, attr, scene, obj, old, new)]
        template = ok[int(rng.integers(len(ok)))]
    t = temps[template]
    if not applicable(t, attr, scene, obj, old, new):
        raise ValueError(f"phrasing {t.text!r} cannot express {change} in this scene")
    if ref is None and "{r}" in t.text:
        opts = refer_options(scene, obj if obj is not None else 0)
        if t.ref == "np":
            opts = [o for o in opts if o != "it"]
        ref = opts[int(rng.integers(len(opts)))]
    value = new
    if attr == "size" and t.kind != "value":
        step = SIZES.index(new) - SIZES.index(old)
        value = (_REL_WORDS if t.kind == "relative" else _VERB_WORDS)[step]
    return t.text.format(r=ref, v=value, a=article(value), old=old,
                         loc=location(value) if attr == "position" else "")


def delta_text(changes: list[dict[str, Any]], reference_scene: Scene,
               rng: np.random.Generator) -> str:
    """The modification text for `changes` (1 or more), clauses in random order joined by 'and'."""
    clauses = [phrase_change(c, reference_scene, rng) for c in changes]
    order = rng.permutation(len(clauses))
    return " and ".join(clauses[int(k)] for k in order)


# ----------------------------------------------------------------------------- parsing
def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_CO, _SH, _SZ, _PO, _BG = (_alt(v) for v in (COLOURS, SHAPES, SIZES, POSITIONS, BACKGROUNDS))
_R = r"(?P<ref>it|the .+)"
_PATTERNS: list[tuple[str, str, re.Pattern]] = [
    (attr, kind, re.compile("^" + rx + "$")) for attr, kind, rx in [
        ("colour", "value", rf"(?:make|turn|paint) {_R} (?P<v>{_CO})"),
        ("colour", "value", rf"change the colour of {_R} to (?P<v>{_CO})"),
        ("colour", "value", rf"change the colour to (?P<v>{_CO})"),
        ("colour", "value", rf"{_R} should be (?P<v>{_CO})"),
        ("shape", "value", rf"replace {_R} with an? (?P<v>{_SH})"),
        ("shape", "value", rf"turn {_R} into an? (?P<v>{_SH})"),
        ("shape", "value", rf"make {_R} an? (?P<v>{_SH})"),
        ("shape", "value", rf"swap {_R} for an? (?P<v>{_SH})"),
        ("shape", "value", rf"change the shape of {_R} to an? (?P<v>{_SH})"),
        ("shape", "value", rf"change the shape to an? (?P<v>{_SH})"),
        ("size", "value", rf"make {_R} (?P<v>{_SZ})"),
        ("size", "value", rf"change the size of {_R} to (?P<v>{_SZ})"),
        ("size", "value", rf"change the size to (?P<v>{_SZ})"),
        ("size", "value", rf"resize {_R} to (?P<v>{_SZ})"),
        ("size", "relative", r"make (?P<ref>it|the .+?) (?P<v>much bigger|much smaller|bigger|smaller)"),
        ("size", "relative", rf"(?P<v>enlarge|shrink) {_R}"),
        ("position", "value", rf"(?:move|shift) {_R} to the (?P<v>{_PO})"),
        ("position", "value", rf"(?:put|place) {_R} (?:in|at|on) the (?P<v>{_PO})"),
        ("position", "value", rf"change the position of {_R} to the (?P<v>{_PO})"),
        ("position", "value", rf"change the position to the (?P<v>{_PO})"),
        ("background", "value", rf"(?:change|set) the background to (?P<v>{_BG})"),
        ("background", "value", rf"make the background (?P<v>{_BG})"),
        ("background", "value", rf"use an? (?P<v>{_BG}) background"),
        ("background", "value", rf"swap the (?:{_BG}) background for an? (?P<v>{_BG}) one"),
        ("background", "value", rf"put {_R} on an? (?P<v>{_BG}) background"),
    ]
]
_STEPS = {"bigger": 1, "much bigger": 2, "smaller": -1, "much smaller": -2,
          "enlarge": 1, "shrink": -1}
_SPLIT = re.compile(r"\s*(?:,\s*and\b|\band\b|,|;|\bthen\b)\s*")
_NORMALISE = [(re.compile(r"\bcolou?rs?\b"), "colour"), (re.compile(r"\bgrey\b"), "gray"),
              (re.compile(r"\bcentre\b|\bmiddle\b"), "center"), (re.compile(r"\s+"), " ")]


def normalise(text: str) -> str:
    """Lower case, British 'colour', 'gray', 'center', no end punctuation, single spaces."""
    t = text.lower().strip().rstrip(".!")
    for rx, rep in _NORMALISE:
        t = rx.sub(rep, t)
    return t.strip()


def parse_clause(clause: str, reference_scene: Scene | None) -> Change:
    """One clause to a Change; an unrecognised clause gives Change(None, 'unparsed', clause)."""
    for attr, kind, rx in _PATTERNS:
        m = rx.match(clause)
        if not m:
            continue
        value = m.group("v")
        if attr == "background":
            return Change(None, "background", value)
        obj = resolve_reference(m.groupdict().get("ref") or "it", reference_scene)
        if obj is None:
            continue
        if kind == "relative":
            if reference_scene is None or obj >= len(reference_scene.objects):
                continue
            k = SIZES.index(reference_scene.objects[obj].size) + _STEPS[value]
            if not 0 <= k < len(SIZES):
                continue
            value = SIZES[k]
        return Change(obj, attr, value)
    return Change(None, UNPARSED, clause)


def parse_delta(text: str, reference_scene: Scene | None = None) -> frozenset[Change]:
    """The set of changes a delta text asks for (the inverse of `delta_text`).

    `reference_scene` resolves object references and relative sizes ('bigger'); without it
    the text is read as being about a single-object scene and relative sizes are unparsed.
    """
    clauses = [c for c in _SPLIT.split(normalise(text)) if c]
    return frozenset(parse_clause(c, reference_scene) for c in clauses)
