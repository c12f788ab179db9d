"""Judge: from the measured candidates to the recommendation (assess, rank, Pareto, savings, cascade).

Pure apart from the clock-free inputs it is given: no model runs, nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

from advisor.core import sentences
from advisor.core.assess import assess
from advisor.core.cascades import MAX_CHEAP, best_cascade, cannot_gate, cascade_name, cheaper_than, could_win
from advisor.core.formats import goal_text
from advisor.core.impact import savings
from advisor.core.ranking import pareto_front, rank
from advisor.core.results import BestBet, CandidateResult, Cost, Look, NoCascade, Recommendation, Stop, Unfit
from advisor.core.stats import z_value
from advisor.measure.candidate import base_result
from advisor.search.adaptive import exhaustive_estimate
from advisor.search.plan import Plan
from advisor.spec.kinds import KINDS


def judge(
    plan: Plan,
    results: Sequence[CandidateResult],
    cost: Cost,
    status: str,
    base: Recommendation | None = None,
    looks: Sequence[Look] = (),
    stops: Sequence[Stop] = (),
) -> Recommendation:
    """The recommendation from the results so far; candidates not measured yet are listed as ``not run``.

    Args:
        plan: the run's plan.
        results: the candidates measured so far (already assessed ones keep their intervals).
        cost: what the run has cost so far (the exhaustive estimate is added for adaptive runs).
        status: ``running``, ``complete`` or ``interrupted``.
        base: the previous recommendation of this run (its meter method and idle power are kept).
        looks: the looks at the data so far (sample sizes, what each measured and cost).
        stops: why no more samples were drawn, per candidate (when the run is over).
    """
    skeleton = plan.skeleton()
    rec = (base or skeleton).model_copy(update={"task": skeleton.task, "samples": skeleton.samples})
    s, metric, labels = plan.settings, plan.task.spec.metric, plan.samples.labels
    done = {r.name for r in results}
    pending = [base_result(sp, "not run", "the run was interrupted first") for sp in plan.specs if sp.name not in done]
    assessed, ref = assess(results, labels, metric, plan.threshold, plan.decision_confidence, s.goal.max_drop, s.goal.reference, plan.seed)
    goal = goal_text(metric.describe(), plan.threshold, s.goal.max_drop, ref, s.goal.confidence)
    ranking = rank(assessed, plan.threshold, s.goal.by, metric.describe(), goal)
    order = {n: i for i, n in enumerate(ranking.order)}
    ordered = sorted(assessed, key=lambda r: order.get(r.name, len(order))) + pending
    if plan.search.strategy == "adaptive":
        est_j, est_s, left_out = exhaustive_estimate(results, len(labels), s.measurement)
        last = {n: i for i, lk in enumerate(looks) for n in lk.measured}  # each candidate's final measurement
        earlier = [lk for i, lk in enumerate(looks) if any(last[n] != i for n in lk.measured)]
        est_j += sum(lk.energy_j for lk in earlier)  # an exhaustive run draws more samples for the same candidates too
        est_s += sum(lk.duration_s for lk in earlier)
        cost = cost.model_copy(update={"exhaustive_estimate_j": est_j, "exhaustive_estimate_s": est_s, "not_estimated": left_out})
    model, best = ranking.model, ranking.best
    stopped = sentences.stops(stops)
    search = plan.search.model_copy(update={"looks": list(looks), "stopped": stopped, "stops": list(stops)})
    summary, bet = ranking.summary, None
    if ranking.decision == "undecided" and stopped is not None:
        summary, bet = _undecided(summary, assessed, plan, stopped)
    ordered = _paybacks(ordered, model, ranking.order)
    return rec.model_copy(
        update={
            "candidates": ordered,
            "model": model,
            "best": best,
            "summary": summary,
            "decision": ranking.decision,
            "outcome": ranking.outcome,
            "status": status,
            "reference": ref,
            "pareto": pareto_front(assessed),
            "advisor_cost": cost,
            "search": search,
            "best_bet": bet,
            "savings": _savings(assessed, model, ref or best, plan, cost.energy_j),
            **(_cascade(assessed, model or best, plan) if status != "running" else {}),  # searched once the run is over
        }
    )


def _undecided(summary: str, results: Sequence[CandidateResult], plan: Plan, stopped: str) -> tuple[str, BestBet | None]:
    """An undecided answer says what limited the samples and names a best bet (not a confident recommendation)."""
    used, rows = len(plan.samples), plan.search.rows_available or len(plan.samples)
    summary += " " + sentences.no_more_rows(used, rows, stopped)
    open_ = [c for c in results if c.status == "ok" and c.verdict == "undecided" and c.quality_ci]
    if not open_ or plan.threshold is None:
        return summary, None
    z = z_value(plan.decision_confidence)

    def likelihood(c: CandidateResult) -> float:
        sd = max((c.quality_ci[1] - c.quality_ci[0]) / (2 * z), 1e-9)
        return 1 - NormalDist(c.quality, sd).cdf(plan.threshold)

    order = plan.search.order
    ranked = sorted(open_, key=lambda c: order.index(c.name) if c.name in order else len(order))
    likely = [c for c in ranked if likelihood(c) >= 0.5]
    pick = likely[0] if likely else max(ranked, key=likelihood)
    bet = BestBet(name=pick.name, likelihood=likelihood(pick), even_odds=bool(likely))
    bet = bet.model_copy(update={"note": sentences.best_bet(bet)})
    return f"{summary} {bet.note}", bet


def _paybacks(results: list[CandidateResult], model: str | None, order: Sequence[str]) -> list[CandidateResult]:
    """For each bespoke model, after how many queries the energy of making it is repaid by a lower energy per query
    than the candidate it would replace: the recommendation (or, when it is the recommendation, what would be
    recommended without it), else its parent."""
    ok = _measured(results)
    out = []
    for c in results:
        mk = c.making
        if mk is None or c.name not in ok:
            out.append(c)
            continue
        if c.name == model:
            others = [n for n in order if n != c.name and n in ok and ok[n].verdict == "meets"]
            against = others[0] if others else None
        else:
            against = model if model in ok else (c.derived_from if c.derived_from in ok else None)
        if against is not None and against == c.derived_from and KINDS[c.kind].trains_body and mk.energy_j is not None:
            update = {"payback_case": "same_architecture", "payback_against": against}
        else:
            update = _payback(mk, ok[c.name], ok.get(against or ""))
        made = mk.model_copy(update={"payback_queries": None, "payback_saved_j": None, **update})
        out.append(c.model_copy(update={"making": made.model_copy(update={"payback_note": sentences.payback(made)})}))
    return out


def _payback(mk, mine: CandidateResult, other: CandidateResult | None) -> dict:
    """The payback's case (and, when it repays, after how many queries) of ``mine`` against ``other``."""
    if other is None:
        return {"payback_case": "no_candidate", "payback_against": None}
    if mk.energy_j is None:
        return {"payback_case": "unknown", "payback_against": other.name}
    saved = other.energy_per_query_j - mine.energy_per_query_j
    if _overlap(mine, other):
        return {"payback_case": "overlap", "payback_against": other.name}
    if saved <= 0:
        return {"payback_case": "never", "payback_against": other.name}
    return {"payback_case": "repays", "payback_against": other.name, "payback_queries": mk.energy_j / saved, "payback_saved_j": saved}


def _overlap(a: CandidateResult, b: CandidateResult) -> bool:
    """Whether the energy-per-query intervals of ``a`` and ``b`` overlap (False when either has none)."""
    ia, ib = a.energy.ci_per_query_j, b.energy.ci_per_query_j
    return bool(ia and ib and ia[0] <= ib[1] and ib[0] <= ia[1])


def _measured(results: Sequence[CandidateResult], samples: int | None = None) -> dict[str, CandidateResult]:
    """Candidates measured in full; with ``samples``, only those scored on exactly that many samples."""
    return {
        c.name: c
        for c in results
        if c.status == "ok" and c.energy is not None and c.quality is not None and (samples is None or len(c.predictions or []) == samples)
    }


def _savings(results: Sequence[CandidateResult], model: str | None, against: str | None, plan: Plan, spent_j: float):
    """The recommendation against the reference (or the best), when they differ."""
    ok, s = _measured(results), plan.settings
    if model not in ok or against not in ok or against == model:
        return None
    return savings(ok[model], ok[against], s.output.queries_per_day, s.measurement.country, s.output.price_per_kwh, spent_j)


def _cascade(results: Sequence[CandidateResult], last_name: str | None, plan: Plan) -> dict:
    """``cascade``: the cheapest cascade ending in the recommended (or best) single model that is certified to meet the
    goal, if any (classification only), with its pipeline's measurement once its row is among ``results``; candidates
    measured on fewer samples count on the samples they share with it. ``no_cascade``: why there is none."""
    ok, metric, s = _measured(results), plan.task.spec.metric, plan.settings
    rows = {c.name: c for c in results if c.kind == "cascade"}
    last = _last(ok, rows, last_name)
    why = _why_none(list(ok.values()), last, plan)
    if why is not None:
        return _none(why)
    if last is None:
        return {"cascade": None, "no_cascade": None, "why_no_cascade": None}
    labels, names = plan.samples.labels, plan.samples.label_names
    found = best_cascade(
        list(ok.values()), last, labels, metric, plan.threshold, s.goal.confidence, plan.seed, plan.decision_confidence, names
    )
    if found is None:
        usable = [c.name for c in cheaper_than(list(ok.values()), last) if cannot_gate(c, names) is None][:MAX_CHEAP]
        return _none(NoCascade(case="none_certified", last=last.name, tried=usable, unfit=_unfit(list(ok.values()), last, names)))
    row = rows.get(cascade_name(found.stages))
    if row is None:
        return {"cascade": found, "no_cascade": None, "why_no_cascade": None}
    if row.status != "ok" or row.energy is None:
        found = found.model_copy(update={"candidate": row.name, "not_measured": row.reason})
        return {"cascade": found, "no_cascade": None, "why_no_cascade": None}
    measured = {
        "candidate": row.name,
        "measured_energy_per_query_j": row.energy.per_query_j,
        "measured_shares": row.cascade.window_shares if row.cascade else [],
        "queries_from": row.cascade.queries_from if row.cascade else None,
    }
    return {"cascade": found.model_copy(update=measured), "no_cascade": None, "why_no_cascade": None}


def _none(why: NoCascade) -> dict:
    return {"cascade": None, "no_cascade": sentences.no_cascade(why), "why_no_cascade": why}


def _last(ok: dict[str, CandidateResult], rows: dict[str, CandidateResult], name: str | None) -> CandidateResult | None:
    """The single model a cascade ends in: ``name``, or the last stage of the cascade ``name`` is."""
    if name in rows and rows[name].cascade is not None:
        name = rows[name].cascade.stages[-1]
    return ok.get(name or "")


def cascade_to_grow(plan: Plan, rec: Recommendation) -> tuple[str, ...] | None:
    """The stages of a cascade that could meet the goal for less energy than the model it ends in but is not confirmed
    (none certified, or its held-out interval undecided): more samples could decide it. None otherwise."""
    if rec.cascade is not None and rec.cascade.verdict == "meets":
        return None
    ok, rows = _measured(rec.candidates), {c.name: c for c in rec.candidates if c.kind == "cascade"}
    last = _last(ok, rows, rec.model or rec.best)
    if last is None or _why_none(list(ok.values()), last, plan) is not None:
        return None
    samples, s = plan.samples, plan.settings
    delta = min(1 - s.goal.confidence, (1 - plan.decision_confidence) / 2)  # the gate's certification, then the held-out interval
    reach = max(plan.sizes or (len(samples),))
    return could_win(list(ok.values()), last, samples.labels, plan.task.spec.metric, plan.threshold, samples.label_names, reach, delta)


def _unfit(results: list[CandidateResult], last: CandidateResult, label_names: Sequence[str]) -> list[Unfit]:
    """The cheaper candidates that cannot gate, and why."""
    return [why for c in cheaper_than(results, last) if (why := cannot_gate(c, label_names))]


def _why_none(results: list[CandidateResult], last: CandidateResult | None, plan: Plan) -> NoCascade | None:
    """Why no cascade can be searched at all, or None when the search may go on."""
    if plan.settings.search.cascade == "off":
        return NoCascade(case="off")
    if plan.task.spec.metric.generative:
        return NoCascade(case="generative")
    if plan.threshold is None:
        return NoCascade(case="relative_goal")
    if last is None:
        return None
    cheaper = cheaper_than(results, last)
    if not cheaper:
        return NoCascade(case="nothing_cheaper", last=last.name)
    if all(cannot_gate(c, plan.samples.label_names) for c in cheaper):
        return NoCascade(case="none_can_gate", last=last.name, unfit=_unfit(results, last, plan.samples.label_names))
    return None
