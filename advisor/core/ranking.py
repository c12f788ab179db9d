"""Pure ranking: from measured candidates to the recommended one and the sentence that explains it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advisor.core.formats import goal_text, percent, quality
from advisor.core.results import CandidateResult

_KEYS = {
    "energy": ("energy per query", lambda c: c.energy_per_query_j),
    "params": ("parameters", lambda c: c.parameters),
    "latency": ("median latency", lambda c: c.latency_p50_ms),
}


@dataclass(frozen=True)
class Ranking:
    """The outcome: ``model`` meets the goal at the least cost; ``best`` has the highest quality.

    ``decision`` is ``recommended``, ``none`` (no candidate meets the goal) or ``undecided`` (the
    samples cannot tell whether a candidate meets it).
    """

    model: str | None
    best: str | None
    summary: str
    order: list[str]
    decision: str = "none"


def _ratio(small: float, large: float) -> str:
    if small <= 0 or large <= 0:
        return "an unmeasurable fraction"
    r = large / small
    return f"1/{r:.0f}" if r >= 1.95 else percent(small / large)


def verdict_of(c: CandidateResult, threshold: float | None) -> str:
    """The candidate's verdict from :func:`advisor.core.assess.assess`, else its point quality against ``threshold``."""
    if c.verdict is not None:
        return c.verdict
    return "meets" if threshold is None or c.quality >= threshold else "fails"


def _q(c: CandidateResult) -> str:
    return quality(c.quality, c.quality_ci)


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
    what, key = _KEYS[by]
    goal = goal or goal_text(metric_label, threshold)
    ok = [c for c in candidates if c.status == "ok" and c.quality is not None and key(c) is not None]
    order = sorted(ok, key=lambda c: (key(c), -(c.quality or 0), c.name))
    rest = [c for c in candidates if c not in ok]
    names = [c.name for c in order] + [c.name for c in rest]
    if not ok:
        dropped = [c for c in candidates if c.status == "dropped" and c.quality is not None]
        if dropped:
            top = max(dropped, key=lambda c: c.quality)
            return Ranking(
                None,
                None,
                f"No candidate meets {goal}: each was stopped early, its quality's upper bound already below the "
                f"threshold (highest: {top.name}, {quality(top.quality)} on {top.samples_evaluated} samples).",
                names,
            )
        return Ranking(None, None, "No candidate was measured successfully.", names)
    best = max(ok, key=lambda c: (c.quality, -key(c)))
    passing = [c for c in order if verdict_of(c, threshold) == "meets"]
    if not passing:
        open_ = [c for c in order if verdict_of(c, threshold) == "undecided"]
        if open_:
            c = open_[0]
            need = f"about {c.samples_needed} samples would decide" if c.samples_needed else "no practical sample size would decide"
            return Ranking(
                None, best.name, f"The data cannot decide: {c.name} ({_q(c)}) may or may not meet {goal}; {need}.", names, "undecided"
            )
        return Ranking(None, best.name, f"No candidate meets {goal}; the best is {best.name} ({_q(best)}).", names)
    chosen = passing[0]
    singles = [c for c in passing if c.kind != "cascade"] or passing  # a cascade holds its stages' parameters: not "the largest"
    largest = max(singles, key=lambda c: (c.parameters or 0, key(c)))
    head = f"{chosen.name} meets {goal} ({_q(chosen)})"
    if largest is chosen:
        others = "the only candidate that does" if len(passing) == 1 else "the largest candidate that does"
        return Ranking(chosen.name, best.name, f"{head}; it is {others}.", names, "recommended")
    return Ranking(
        chosen.name,
        best.name,
        f"{head} at {_ratio(key(chosen), key(largest))} of the {what} of {largest.name}, "
        f"the largest candidate that also meets it ({quality(largest.quality)}).",
        names,
        "recommended",
    )


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
