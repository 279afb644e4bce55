"""The `describe` response format: built, parsed back to its delta, recorded in the config."""

from types import SimpleNamespace

import pytest

from vdgray.models.vdg.prompt import (
    DESCRIBE,
    DESCRIBE_MAX_NEW_TOKENS,
    MAX_NEW_TOKENS,
    RESPONSE_FORMAT_KEY,
    delta_of,
    describe_response,
    max_new_tokens_for,
    prompt_words,
    response_format,
)


def test_describe_response_round_trips_to_its_delta():
    text = describe_response("a red circle on a gray background",
                             "a blue circle on a gray background", "make it blue")
    assert text == ("before: a red circle on a gray background after: a blue circle on a gray "
                    "background change: make it blue")
    assert delta_of(text, DESCRIBE) == "make it blue"
    assert delta_of(" make it blue ") == "make it blue"  # the paper's format: all of it


def test_a_describe_response_that_never_states_a_change_has_no_delta():
    assert delta_of("before: a red circle after: a blue", DESCRIBE) == ""


def test_the_format_is_read_from_the_config_and_sets_the_token_budget():
    assert response_format(SimpleNamespace()) == "delta"
    assert response_format(SimpleNamespace(**{RESPONSE_FORMAT_KEY: DESCRIBE})) == DESCRIBE
    with pytest.raises(ValueError, match="not one of"):
        response_format(SimpleNamespace(**{RESPONSE_FORMAT_KEY: "poem"}))
    assert max_new_tokens_for("delta", None) == MAX_NEW_TOKENS
    assert max_new_tokens_for(DESCRIBE, None) == DESCRIBE_MAX_NEW_TOKENS
    assert max_new_tokens_for(DESCRIBE, 7) == 7


def test_a_world_tokenizer_knows_the_describe_markers():
    from vdgray.models.vdg.build import world_tokenizer

    tok = world_tokenizer(["a red circle"])
    ids = tok("before: a red circle after: a circle change:", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert "change:" in " ".join(prompt_words())
