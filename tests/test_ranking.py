"""Ranking rules: cheapest passing candidate, ties, none passing, failed ones never chosen."""

from __future__ import annotations

import pytest

from advisor.core.formats import goal_text
from advisor.core.ranking import rank
from advisor.core.results import CandidateResult
from tests.factories import candidate


def cand(name, quality, energy, params, latency=10.0, status="ok") -> CandidateResult:
    return candidate(name, quality=quality, energy_j=energy, status=status, source="x", parameters=params, latency_p50_ms=latency)


POOL = [
    cand("tiny", 0.70, 0.01, 1_000),
    cand("small", 0.84, 0.10, 20_000_000, latency=30),
    cand("medium", 0.86, 0.50, 100_000_000, latency=12),
    cand("large", 0.90, 0.90, 300_000_000, latency=80),
]


def test_cheapest_candidate_meeting_the_threshold_wins_and_the_sentence_says_why():
    r = rank(POOL, 0.80, "energy", "accuracy")
    assert r.model == "small" and r.best == "large"
    assert r.summary.startswith("small meets accuracy >= 0.80 (0.840) at 1/9 of the energy per query of large")
    assert r.order == ["tiny", "small", "medium", "large"]


def test_rank_by_params_and_latency():
    assert rank(POOL, 0.85, "params").model == "medium"
    assert rank(POOL, 0.80, "latency").model == "medium"


def test_no_candidate_meets_the_threshold():
    r = rank(POOL, 0.95, "energy", "accuracy")
    assert r.model is None and r.best == "large"
    assert "No candidate meets accuracy >= 0.95" in r.summary and "large (0.900)" in r.summary


def test_failed_and_skipped_candidates_are_never_recommended():
    pool = [cand("broken", 0.99, None, None, status="failed"), cand("skipped", None, None, None, status="skipped"), *POOL]
    r = rank(pool, 0.80)
    assert r.model == "small" and r.order[-2:] == ["broken", "skipped"]


def test_ties_on_cost_go_to_higher_quality():
    pool = [cand("a", 0.81, 0.1, 10), cand("b", 0.85, 0.1, 10)]
    assert rank(pool, 0.8).model == "b"


def test_only_candidate_and_close_ratio_wording():
    assert "only candidate" in rank([cand("x", 0.9, 0.1, 5)], 0.8).summary
    r = rank([cand("x", 0.9, 0.08, 5), cand("y", 0.9, 0.1, 50)], 0.8)
    assert r.model == "x" and "80% of the energy per query of y" in r.summary


def test_threshold_is_inclusive():
    assert rank([cand("x", 0.8, 0.1, 5)], 0.8).model == "x"


def test_nothing_measured():
    r = rank([cand("s", None, None, None, status="skipped")], 0.5)
    assert r.model is None and r.best is None


def test_pareto_front_keeps_only_non_dominated_candidates():
    from advisor.core.ranking import pareto_front

    pool = [*POOL, cand("wasteful", 0.80, 0.95, 10), cand("twin", 0.84, 0.10, 5), cand("bad", 0.1, None, None, status="failed")]
    # wasteful: beaten by small on both axes; twin ties small exactly (neither dominates)
    assert pareto_front(pool) == ["tiny", "small", "twin", "medium", "large"]
    assert "wasteful" not in pareto_front(pool) and "bad" not in pareto_front(pool)


def test_the_ranking_decides_in_data_and_the_summary_is_rendered_from_it():
    from advisor.core import sentences

    r = rank(POOL, 0.80, "energy", "accuracy")
    o = r.outcome
    assert o.case == "smaller" and o.chosen == r.model and o.largest not in (None, r.model) and o.by == "energy"
    by_name = {c.name: c for c in POOL}
    assert o.cost_ratio == pytest.approx(by_name[o.chosen].energy_per_query_j / by_name[o.largest].energy_per_query_j)
    assert r.summary == sentences.summary(o, goal_text("accuracy", 0.80), by_name)
    only = rank([cand("x", 0.9, 0.1, 5)], 0.8).outcome
    assert only.case == "only" and only.chosen == "x" and only.cost_ratio is None
    assert rank(POOL, 0.99).outcome.case == "none_meets" and rank(POOL, 0.99).outcome.subject == rank(POOL, 0.99).best
    assert rank([], 0.8).outcome.case == "none_measured"


def test_a_cost_that_reads_zero_gives_no_ratio():
    free = [cand("cheap", 0.9, 0.0, 5), cand("big", 0.91, 0.2, 500)]
    r = rank(free, 0.8)
    assert r.model == "cheap" and r.outcome.case == "smaller" and r.outcome.cost_ratio is None
    assert "an unmeasurable fraction of the energy per query of big" in r.summary
