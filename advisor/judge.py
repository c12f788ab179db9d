"""Judge: from the measured candidates to the recommendation (assess, rank, Pareto, savings, cascade).

Pure apart from the clock-free inputs it is given: no model runs, nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from advisor.adaptive import exhaustive_estimate
from advisor.assess import assess, metric_fn, quality_interval
from advisor.impact import cascade, savings
from advisor.measure import base_result
from advisor.plan import Plan
from advisor.ranking import pareto_front, rank
from advisor.results import CandidateResult, Cost, Recommendation
from advisor.text import goal_text


def judge(plan: Plan, results: Sequence[CandidateResult], cost: Cost, status: str, base: Recommendation | None = None) -> Recommendation:
    """The recommendation from the results so far; candidates not measured yet are listed as ``not run``.

    Args:
        plan: the run's plan.
        results: the candidates measured so far (already assessed ones keep their intervals).
        cost: what the run has cost so far (the exhaustive estimate is added for adaptive runs).
        status: ``running``, ``complete`` or ``interrupted``.
        base: the previous recommendation of this run (its meter method and idle power are kept).
    """
    rec = base or plan.skeleton()
    s, metric, labels = plan.settings, plan.task.spec.metric, plan.samples.labels
    done = {r.name for r in results}
    pending = [base_result(sp, "not run", "the run was interrupted first") for sp in plan.specs if sp.name not in done]
    assessed, ref = assess(results, labels, metric, plan.threshold, s.confidence, s.max_drop, s.reference, plan.seed)
    goal = goal_text(metric.describe(), plan.threshold, s.max_drop, ref, s.confidence)
    ranking = rank(assessed, plan.threshold, s.by, metric.describe(), goal)
    order = {n: i for i, n in enumerate(ranking.order)}
    ordered = sorted(assessed, key=lambda r: order.get(r.name, len(order))) + pending
    if plan.search.strategy == "adaptive":
        est_j, est_s = exhaustive_estimate(results, len(labels), s)
        cost = cost.model_copy(update={"exhaustive_estimate_j": est_j, "exhaustive_estimate_s": est_s})
    model, best = ranking.model, ranking.best
    return rec.model_copy(update={
        "candidates": ordered, "model": model, "best": best, "summary": ranking.summary, "decision": ranking.decision,
        "status": status, "reference": ref, "pareto": pareto_front(assessed), "advisor_cost": cost,
        "savings": _savings(assessed, model, ref or best, plan, cost.energy_j),
        "cascade": _cascade(assessed, model or best, plan),
    })


def _measured(results: Sequence[CandidateResult]) -> dict[str, CandidateResult]:
    return {c.name: c for c in results if c.status == "ok" and c.energy is not None and c.quality is not None}


def _savings(results: Sequence[CandidateResult], model: str | None, against: str | None, plan: Plan, spent_j: float):
    """The recommendation against the reference (or the best), when they differ."""
    ok, s = _measured(results), plan.settings
    if model not in ok or against not in ok or against == model:
        return None
    return savings(ok[model], ok[against], s.queries_per_day, s.country, s.price_per_kwh, spent_j)


def _cascade(results: Sequence[CandidateResult], large_name: str | None, plan: Plan):
    """The cheapest small -> large confidence cascade that meets the goal, if any (classification only)."""
    ok, metric, labels = _measured(results), plan.task.spec.metric, plan.samples.labels
    large = ok.get(large_name or "")
    if large is None or plan.threshold is None or metric.generative:  # a cascade gates on classifier confidence
        return None
    s = plan.settings

    def interval(preds):
        probe = large.model_copy(update={"predictions": preds})
        return quality_interval(probe, labels, metric, s.confidence, plan.seed)

    options = [cascade(small, large, labels, metric_fn(metric), plan.threshold, interval) for small in ok.values()
               if small.name != large.name and small.energy.per_query_j < large.energy.per_query_j]
    options = [o for o in options if o is not None]
    return min(options, key=lambda o: o.energy_per_query_j) if options else None
