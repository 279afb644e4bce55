"""BLEU-4 / ROUGE-L against values computed by hand."""

from __future__ import annotations

import math

import pytest

from vdgray.eval.text_metrics import corpus_bleu, lcs_length, mean_rouge_l, rouge_l, tokens


def test_tokens_lowercase_and_split_punctuation():
    assert tokens("Make it RED, now.") == ["make", "it", "red", ",", "now", "."]


def test_identical_text_scores_one():
    assert corpus_bleu(["move the star to the top left"], ["move the star to the top left"]) == 1.0
    assert rouge_l("make it red", "make it red") == 1.0


def test_bleu_hand_computed():
    # hyp: "the cat sat on the mat" (6), ref: "the cat is on the mat" (6)
    # p1 = 5/6, p2 = 3/5 (the cat, on the, the mat), p3 = 1/4 (on the mat), p4 = 0/3 -> 0
    assert corpus_bleu(["the cat sat on the mat"], ["the cat is on the mat"]) == 0.0
    # hyp: "a b c d e" vs ref "a b c d f": p1 4/5, p2 3/4, p3 2/3, p4 1/2, equal lengths
    want = math.exp((math.log(4 / 5) + math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2)) / 4)
    assert corpus_bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(want)


def test_bleu_brevity_penalty_and_clipping():
    # hyp "a b c d" vs ref "a b c d e f": all precisions 1, BP = exp(1 - 6/4)
    assert corpus_bleu(["a b c d"], ["a b c d e f"]) == pytest.approx(math.exp(1 - 6 / 4))
    # clipped unigram counts: "a a a a" vs "a b c d" -> p1 = 1/4, p2 = 0 -> 0
    assert corpus_bleu(["a a a a"], ["a b c d"]) == 0.0


def test_bleu_pools_counts_over_corpus():
    hyps, refs = ["a b c d e", "a b c d"], ["a b c d f", "a b c d"]
    # matches: p1 (4+4)/(5+4), p2 (3+3)/(4+3), p3 (2+2)/(3+2), p4 (1+1)/(2+1); lengths 9 vs 9
    want = math.exp(sum(math.log(x) for x in (8 / 9, 6 / 7, 4 / 5, 2 / 3)) / 4)
    assert corpus_bleu(hyps, refs) == pytest.approx(want)


def test_rouge_l_hand_computed():
    # LCS("make the circle blue", "make the big circle red") = make the circle (3)
    assert lcs_length("make the circle blue".split(), "make the big circle red".split()) == 3
    p, r = 3 / 4, 3 / 5
    assert rouge_l("make the circle blue", "make the big circle red") == pytest.approx(
        2 * p * r / (p + r))
    assert rouge_l("", "make it red") == 0.0
    assert mean_rouge_l(["make it red", "x"], ["make it red", "y"]) == pytest.approx(0.5)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        corpus_bleu(["a"], [])
