"""The world VDG's priors: fresh caption-caption-change texts and rendered described pairs."""

from vdgray.data.synthetic.attributes import diff_scenes
from vdgray.data.synthetic.language import caption, change_key, parse_delta
from vdgray.data.synthetic.prior import prior_scene_pairs, prior_texts, rendered_pairs

WORLD = {"seed": 0, "image_size": 32, "noise": 0.5, "two_object_prob": 0.3,
         "two_change_prob": 0.3, "aux_family_size": 4}


def test_prior_texts_are_seeded_and_state_a_real_one_or_two_attribute_change():
    texts = prior_texts(WORLD, 40)
    assert texts == prior_texts(WORLD, 40) and len(set(texts)) > 30
    assert prior_texts({**WORLD, "seed": 1}, 5) != texts[:5]
    for (a, b, delta), (first, second, same) in zip(prior_scene_pairs(WORLD, 40), texts,
                                                      strict=True):
        assert (caption(a), caption(b), delta) == (first, second, same)
        assert 1 <= len(diff_scenes(a, b)) <= 2
        assert parse_delta(delta, a) == change_key(diff_scenes(a, b))


def test_prior_texts_never_repeat_the_worlds_own_captions_stream():
    # the gallery's scenes come from rng_for(seed, AUX, ...): a different stream
    from vdgray.data.synthetic.world import aux_scene

    gallery = {caption(aux_scene(0, i, 0.3, 0.3, 4)) for i in range(8)}
    assert not gallery & {a for a, _, _ in prior_texts(WORLD, 8)}


def test_rendered_pairs_chain_each_family_and_carry_captions():
    images, pairs, captions = rendered_pairs(WORLD, 7)
    assert len(pairs) == 7 and len(images) == len(captions) == 12  # 3 families of 4
    assert all(a != b and a // 4 == b // 4 for a, b in pairs)
    assert images[0].size == (32, 32)
