"""Pure ranking: from measured candidates to the recommended one, as data (:class:`Outcome`) and in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advisor.core.formats import goal_text
from advisor.core.results import CandidateResult, Outcome
from advisor.core.sentences import summary

_KEYS = {
    "energy": lambda c: c.energy_per_query_j,
    "params": lambda c: c.parameters,
    "latency": lambda c: c.latency_p50_ms,
}


@dataclass(frozen=True)
class Ranking:
    """The outcome: ``model`` meets the goal at the least cost; ``best`` has the highest quality.

    ``decision`` is ``recommended``, ``none`` (no candidate meets the goal) or ``undecided`` (the
    samples cannot tell whether a candidate meets it); ``outcome`` is the decision as data and
    ``summary`` the same in words (:func:`advisor.core.sentences.summary`).
    """

    model: str | None
    best: str | None
    summary: str
    order: list[str]
    decision: str = "none"
    outcome: Outcome | None = None


def verdict_of(c: CandidateResult, threshold: float | None) -> str:
    """The candidate's verdict from :func:`advisor.core.assess.assess`, else its point quality against ``threshold``."""
    if c.verdict is not None:
        return c.verdict
    return "meets" if threshold is None or c.quality >= threshold else "fails"


def rank(
    candidates: Sequence[CandidateResult],
    threshold: float | None,
    by: str = "energy",
    metric_label: str = "quality",
    goal: str | None = None,
) -> Ranking:
    """Pick the candidate with the least cost (``by``) that meets the goal.

    A candidate's ``verdict`` (set by :func:`advisor.core.assess.assess`, with confidence) decides; without
    one, its point quality is compared with ``threshold``. Ties on cost go to the higher quality, then
    the name. Candidates without a status of ok, or without the cost figure, are never recommended.
    ``goal`` is the goal sentence the summary names (default: :func:`advisor.core.formats.goal_text` of the threshold).
    """
    key = _KEYS[by]
    ok = [c for c in candidates if c.status == "ok" and c.quality is not None and key(c) is not None]
    order = sorted(ok, key=lambda c: (key(c), -(c.quality or 0), c.name))
    names = [c.name for c in order] + [c.name for c in candidates if c not in ok]
    model = best = None
    decision = "none"
    if not ok:
        dropped = [c for c in candidates if c.status == "dropped" and c.quality is not None]
        top = max(dropped, key=lambda c: c.quality) if dropped else None
        outcome = Outcome(case="all_stopped", by=by, subject=top.name) if top else Outcome(case="none_measured", by=by)
    else:
        best = max(ok, key=lambda c: (c.quality, -key(c))).name
        passing = [c for c in order if verdict_of(c, threshold) == "meets"]
        open_ = [c for c in order if verdict_of(c, threshold) == "undecided"]
        if passing:
            model, decision, outcome = passing[0].name, "recommended", _chosen(passing, key, by)
        elif open_:
            decision, outcome = "undecided", Outcome(case="undecided", by=by, subject=open_[0].name)
        else:
            outcome = Outcome(case="none_meets", by=by, subject=best)
    text = summary(outcome, goal or goal_text(metric_label, threshold), {c.name: c for c in candidates})
    return Ranking(model, best, text, names, decision, outcome)


def _chosen(passing: list[CandidateResult], key, by: str) -> Outcome:
    """The recommendation (the cheapest that meets the goal) against the largest candidate that also meets it."""
    chosen = passing[0]
    singles = [c for c in passing if c.kind != "cascade"] or passing  # a cascade holds its stages' parameters: not "the largest"
    largest = max(singles, key=lambda c: (c.parameters or 0, key(c)))
    if largest is chosen:
        return Outcome(case="only" if len(passing) == 1 else "largest", by=by, chosen=chosen.name)
    mine, theirs = key(chosen), key(largest)
    cost_ratio = mine / theirs if mine > 0 and theirs > 0 else None  # zero is a legal reading, never a divisor
    return Outcome(case="smaller", by=by, chosen=chosen.name, largest=largest.name, cost_ratio=cost_ratio)


def pareto_front(candidates: Sequence[CandidateResult]) -> list[str]:
    """Names of the measured candidates that no other beats on both quality and energy per query, cheapest first."""
    ok = [c for c in candidates if c.status == "ok" and c.quality is not None and c.energy_per_query_j is not None]

    def dominated(c: CandidateResult) -> bool:
        return any(
            o.quality >= c.quality
            and o.energy_per_query_j <= c.energy_per_query_j
            and (o.quality > c.quality or o.energy_per_query_j < c.energy_per_query_j)
            for o in ok
        )

    return [c.name for c in sorted((c for c in ok if not dominated(c)), key=lambda c: c.energy_per_query_j)]
