"""Exact-match and per-attribute scores of parsed deltas against true changes."""

from __future__ import annotations

import pytest

from vdgray.data.synthetic.attributes import Scene
from vdgray.data.synthetic.language import Change, change_key, parse_delta
from vdgray.eval.vdg_metrics import delta_scores

SCENE = Scene.from_dict({"background": "gray", "objects": [
    {"shape": "circle", "colour": "red", "size": "small", "position": "top left"}]})


def test_exact_match_split_by_number_of_changes():
    t1 = change_key([{"object": 0, "attribute": "colour", "from": "red", "to": "blue"}])
    t2 = change_key([{"object": 0, "attribute": "colour", "from": "red", "to": "blue"},
                     {"object": None, "attribute": "background", "from": "gray", "to": "white"}])
    preds = [parse_delta("make it blue", SCENE),                                 # right
             parse_delta("make it green", SCENE),                                # wrong value
             parse_delta("paint it blue and make the background white", SCENE),  # right (2)
             parse_delta("make it blue", SCENE)]                                 # half of 2
    s = delta_scores(preds, [t1, t1, t2, t2])
    assert s["exact_match"] == pytest.approx(0.5)
    assert s["exact_match_by_changes"] == {"1": 0.5, "2": 0.5}
    assert s["count_by_changes"] == {"1": 2, "2": 2}
    colour = s["per_attribute"]["colour"]
    assert colour["precision"] == pytest.approx(3 / 4) and colour["recall"] == pytest.approx(3 / 4)
    bg = s["per_attribute"]["background"]
    assert bg["precision"] == 1.0 and bg["recall"] == 0.5
    assert s["per_attribute"]["shape"]["precision"] is None


def test_unparsed_text_counts_as_wrong():
    t = frozenset({Change(0, "size", "large")})
    s = delta_scores([parse_delta("something else entirely", SCENE)], [t])
    assert s["exact_match"] == 0.0 and s["unparsed_fraction"] == 1.0
    assert s["per_attribute"]["size"]["recall"] == 0.0
