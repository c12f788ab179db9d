"""Exact match, token F1 and ROUGE against values worked out by hand."""

from __future__ import annotations

import pytest

from advisor.core.textmetrics import (
    exact_match,
    normalize_answer,
    rouge_scores,
    token_f1,
)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("The Andromeda Galaxy.", "andromeda galaxy"),
        ("  A  gyroscope! ", "gyroscope"),
        ("an apple, a pear & the plum", "apple pear plum"),
        ("theatre anthem", "theatre anthem"),  # articles only as whole words
        ("U.S.A.", "usa"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_answer(raw, normal):
    assert normalize_answer(raw) == normal


def test_exact_match_after_normalisation_and_best_of_references():
    assert exact_match("the Andromeda galaxy", "The Andromeda Galaxy.") == 1.0
    assert exact_match("Andromeda", "The Andromeda Galaxy.") == 0.0
    assert exact_match("USA", ["United States", "U.S.A."]) == 1.0
    assert exact_match("anything", []) == 0.0
    assert exact_match(None, "x") == 0.0
    assert exact_match("", "") == 1.0


def test_token_f1_by_hand():
    # pred "The Soviet Union and USA" -> [soviet, union, and, usa] (4 tokens)
    # ref "the Soviet Union and the United States." -> [soviet, union, and, united, states] (5 tokens)
    # common = 3; precision = 3/4, recall = 3/5; F1 = 2 * 0.75 * 0.6 / (0.75 + 0.6) = 0.9 / 1.35 = 2/3
    assert token_f1("The Soviet Union and USA", "the Soviet Union and the United States.") == pytest.approx(2 / 3)
    # repeated tokens count at most as often as in the other side:
    # pred [paris, paris] vs ref [paris]: common 1; P = 1/2, R = 1/1; F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert token_f1("Paris Paris", "Paris") == pytest.approx(2 / 3)
    assert token_f1("London", "Paris") == 0.0
    # best of several references: vs "Edwin Hubble" F1 = 2*(1/1)*(1/2)/(1.5) = 2/3; vs "Hubble" F1 = 1
    assert token_f1("Hubble", ["Edwin Hubble", "Hubble"]) == 1.0
    assert token_f1("", "Paris") == 0.0
    assert token_f1("the", "a") == 1.0  # both empty after normalisation
    assert token_f1("x", []) == 0.0


def test_per_sample_scores():
    preds = ["Richard Nixon", "1969", "Edwin Hubble", None]
    refs = ["Richard Nixon", "1963", ["Hubble", "Edwin Hubble"], "Paris"]
    assert [exact_match(p, r) for p, r in zip(preds, refs)] == [1.0, 0.0, 1.0, 0.0]
    assert [token_f1(p, r) for p, r in zip(preds, refs)] == pytest.approx([1.0, 0.0, 1.0, 0.0])


def test_lengths_must_pair_up():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        rouge_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        rouge_scores(["a"], [])


def test_rouge_by_hand():
    # Sample 1: pred [the, cat, sat, on, the, mat], ref [the, cat, is, on, the, mat] (no word over 3 letters, no stemming)
    #   ROUGE-1: overlap the*2 + cat + on + mat = 5 -> P = R = 5/6 -> F = 5/6
    #   ROUGE-2: pred bigrams {the cat, cat sat, sat on, on the, the mat}, ref {the cat, cat is, is on, on the, the mat}
    #            overlap 3 of 5 each -> F = 3/5
    #   ROUGE-L: LCS "the cat on the mat" = 5 -> P = R = 5/6 -> F = 5/6
    # Sample 2 (stemming): pred "Running dogs" -> [run, dog]; ref "the dog runs" -> [the, dog, run]
    #   ("dogs" -> "dog", "running"/"runs" -> "run"; "dog" is not stemmed, three letters)
    #   ROUGE-1: overlap {run, dog} = 2 -> P = 2/2, R = 2/3 -> F = 2 * 1 * 2/3 / (5/3) = 4/5
    #   ROUGE-2: pred {run dog}, ref {the dog, dog run} -> 0
    #   ROUGE-L: LCS 1 ("dog" or "run") -> P = 1/2, R = 1/3 -> F = 2 * 1/6 / (5/6) = 2/5
    preds = ["the cat sat on the mat", "Running dogs"]
    refs = ["the cat is on the mat", "the dog runs"]
    per = rouge_scores(preds, refs)
    assert per["rouge1"] == pytest.approx([5 / 6, 4 / 5])
    assert per["rouge2"] == pytest.approx([3 / 5, 0.0])
    assert per["rougeL"] == pytest.approx([5 / 6, 2 / 5])


def test_rouge_without_stemming_and_with_several_references():
    # without stemming "Running dogs" shares no token with "the dog runs"
    unstemmed = rouge_scores(["Running dogs"], ["the dog runs"], stemming=False)
    assert unstemmed == {"rouge1": [0.0], "rouge2": [0.0], "rougeL": [0.0]}
    # best reference per sample: "cat" vs "a dog" is 0, vs "cat" is 1
    assert rouge_scores(["cat"], [["a dog", "cat"]])["rouge1"] == [1.0]
    # empty prediction and empty corpus
    assert rouge_scores([""], ["some text"])["rougeL"] == [0.0]
    assert rouge_scores([], []) == {"rouge1": [], "rouge2": [], "rougeL": []}
