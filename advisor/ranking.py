"""Pure ranking: from measured candidates to the recommended one and the sentence that explains it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advisor.results import CandidateResult

_KEYS = {
    "energy": ("energy per query", lambda c: c.energy_per_query_j),
    "params": ("parameters", lambda c: c.parameters),
    "latency": ("median latency", lambda c: c.latency_p50_ms),
}


@dataclass(frozen=True)
class Ranking:
    """The outcome: ``model`` meets the threshold at the least cost; ``best`` has the highest quality."""

    model: str | None
    best: str | None
    summary: str
    order: list[str]


def _ratio(small: float, large: float) -> str:
    if small <= 0 or large <= 0:
        return "an unmeasurable fraction"
    r = large / small
    return f"1/{r:.0f}" if r >= 1.95 else f"{small / large:.0%}"


def rank(candidates: Sequence[CandidateResult], threshold: float, by: str = "energy", metric_label: str = "quality") -> Ranking:
    """Pick the candidate with the least cost (``by``) whose quality meets ``threshold``.

    Ties on cost go to the higher quality, then the name. Candidates without a status of ok, or
    without the cost figure, are never recommended.
    """
    what, key = _KEYS[by]
    ok = [c for c in candidates if c.status == "ok" and c.quality is not None and key(c) is not None]
    order = sorted(ok, key=lambda c: (key(c), -(c.quality or 0), c.name))
    rest = [c for c in candidates if c not in ok]
    names = [c.name for c in order] + [c.name for c in rest]
    if not ok:
        return Ranking(None, None, "No candidate was measured successfully.", names)
    best = max(ok, key=lambda c: (c.quality, -key(c)))
    passing = [c for c in order if c.quality >= threshold]
    if not passing:
        return Ranking(None, best.name, f"No candidate meets {metric_label} >= {threshold:.2f}; the best is {best.name} ({best.quality:.3f}).", names)
    chosen = passing[0]
    largest = max(passing, key=lambda c: (c.parameters or 0, key(c)))
    head = f"{chosen.name} meets {metric_label} >= {threshold:.2f} ({chosen.quality:.3f})"
    if largest is chosen:
        others = "the only candidate that does" if len(passing) == 1 else "the largest candidate that does"
        return Ranking(chosen.name, best.name, f"{head}; it is {others}.", names)
    return Ranking(
        chosen.name,
        best.name,
        f"{head} at {_ratio(key(chosen), key(largest))} of the {what} of {largest.name}, the largest candidate that also meets it ({largest.quality:.3f}).",
        names,
    )


def pareto_front(candidates: Sequence[CandidateResult]) -> list[str]:
    """Names of the measured candidates that no other beats on both quality and energy per query, cheapest first."""
    ok = [c for c in candidates if c.status == "ok" and c.quality is not None and c.energy_per_query_j is not None]

    def dominated(c: CandidateResult) -> bool:
        return any(
            o.quality >= c.quality and o.energy_per_query_j <= c.energy_per_query_j
            and (o.quality > c.quality or o.energy_per_query_j < c.energy_per_query_j)
            for o in ok
        )

    return [c.name for c in sorted((c for c in ok if not dominated(c)), key=lambda c: c.energy_per_query_j)]
