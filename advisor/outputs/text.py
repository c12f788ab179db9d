"""Words and numbers as every output shows them: the goal sentence, number formats and shared sentences, written once.

The terminal, the report, ``advisor check`` and the service all format through this module, so a
figure reads the same everywhere. The number formats and the goal phrases live in
:mod:`advisor.core.formats` (the layers below the outputs write their sentences with them too) and are
re-exported here; the sentences results.json keeps are rendered from typed reasons by :mod:`advisor.core.sentences`.
This module adds the outputs' table cells and the sentences they share.
"""

from __future__ import annotations

from advisor.core.formats import (
    DASH,
    change,
    duration,
    goal_text,
    human_bytes,
    human_count,
    interval,
    joules,
    latency_goal,
    megabytes,
    milliseconds,
    number,
    percent,
    quality,
    quality_cell,
    quality_change,
    ratio,
    relative_change,
    share_of,
    times,
    watts,
)
from advisor.core.results import CandidateResult, Recommendation

__all__ = [  # the number formats and goal phrases of advisor.core.formats, then this module's own
    "DASH",
    "change",
    "duration",
    "goal_text",
    "human_bytes",
    "human_count",
    "interval",
    "joules",
    "latency_goal",
    "megabytes",
    "milliseconds",
    "number",
    "percent",
    "quality",
    "quality_cell",
    "quality_change",
    "ratio",
    "relative_change",
    "share_of",
    "times",
    "watts",
    "goal_of",
    "energy_cell",
    "quality_of",
    "energy_note",
    "savings_lines",
    "cascade_line",
    "distillation_lines",
    "derivation",
    "lineage_lines",
    "samples_line",
    "outcome_lines",
    "cost_line",
    "ahead_line",
    "verdict_text",
]


# -- the goal --------------------------------------------------------------------------------------


def goal_of(rec: Recommendation, *, ge: str = ">=") -> str:
    """The goal a finished run held its candidates to (without the confidence level)."""
    return goal_text(rec.task.metric_label, rec.threshold, rec.max_drop, rec.reference, ge=ge)


# -- table cells -----------------------------------------------------------------------------------


def energy_cell(energy) -> str:
    """A candidate's J/query in a table, labelled at the figure when it was not read from repeated inference
    windows (a ready model's dead end keeps its metered quality pass, which is pure inference)."""
    if energy is None:
        return DASH
    return joules(energy.per_query_j, "") + (" (quality pass)" if energy.source == "quality pass" else "")


def quality_of(c, samples: int) -> str:
    """A candidate's quality cell, saying on how many samples when that is not the run's full count."""
    cell = quality_cell(c.quality, c.quality_ci)
    n = c.samples_evaluated
    return cell + (f" on {n}" if c.quality is not None and n is not None and n != samples else "")


# -- sentences shared by the terminal and the report ------------------------------------------------


def energy_note(rec: Recommendation) -> str:
    """One line on how energy was obtained, shown wherever energy figures are."""
    m = rec.method
    if m.energy == "estimated":
        hint = "" if m.cpu_power_w is not None else " Where CodeCarbon cannot identify the CPU (most VMs), state it with --cpu-power-w."
        return (
            f"Energy is ESTIMATED by CodeCarbon {m.codecarbon_version}, not measured (no RAPL/NVML counters here): "
            f"CPU {m.cpu}; RAM {m.ram}. Idle baseline {watts(rec.idle_power_w.total)}; 'marginal' subtracts it.{hint}"
        )
    if m.energy == "measured":
        return f"Energy is MEASURED by CodeCarbon {m.codecarbon_version}: {m.cpu}; {m.gpu}; {m.ram}."
    return f"Energy: {m.energy}."


def savings_lines(rec: Recommendation) -> list[str]:
    """The savings of the recommendation against the reference, in sentences (energy as the run measured it)."""
    sv = rec.savings
    if sv is None:
        if rec.model and (rec.reference or rec.best) == rec.model:
            return [f"{rec.model} is also the reference (highest quality): there is no larger model to save against."]
        return []
    lines = [
        (
            f"Against {sv.reference}: {joules(sv.saved_per_query_j)} less per query ({share_of(sv.saved_share, 'saved')}) "
            f"for {quality_change(sv.quality_change)} {rec.task.metric_label}."
        )
    ]
    if sv.queries_per_day:
        parts = [f"{sv.saved_kwh_per_year:,.2f} kWh"]
        if sv.saved_kg_co2e_per_year is not None:
            parts.append(f"{sv.saved_kg_co2e_per_year:,.2f} kg CO2e ({sv.carbon_intensity_g_per_kwh:.0f} g/kWh, {sv.country})")
        if sv.saved_money_per_year is not None:
            parts.append(f"{sv.saved_money_per_year:,.2f} at {sv.price_per_kwh}/kWh")
        line = f"At {sv.queries_per_day:,.0f} queries a day: {', '.join(parts)} saved a year on this hardware"
        if sv.advisor_payback_days is not None:
            line += f"; this run's own energy is paid back in {duration(sv.advisor_payback_days * 86400)}"
        lines.append(line + ".")
    return lines


def cascade_line(rec: Recommendation) -> str | None:
    """The cascade certified to meet the goal for less energy than the model it ends in: which share each stage
    answers, its held-out quality, its energy measured as one pipeline beside the computed figure, and what it saves."""
    c = rec.cascade
    if c is None:
        return None
    stages = c.stages or [c.small, c.large]
    shares = c.measured_shares or c.shares or [1 - c.deferred_share, c.deferred_share]
    who = ", then ".join(f"{name} answers {percent(share)} of queries" for name, share in zip(stages[:-1], shares))
    held = f" on {c.samples_held_out} held-out samples" if c.samples_held_out else ""
    head = (
        f"Cascade: {who} (confidence >= {c.gate:.2f}), {stages[-1]} the rest ({percent(shares[-1])}): "
        f"{rec.task.metric_label} {quality(c.quality, c.quality_ci)}{held}"
    )
    computed = f"{joules(c.energy_per_query_j, ' J/query')} computed from the stages' own figures"
    if c.measured_energy_per_query_j is None:
        why = f"its pipeline failed ({c.not_measured}), so it is not ranked" if c.not_measured else "not measured as one pipeline"
        return f"{head}, {computed}; {why}."
    last = rec.candidate(stages[-1]).energy_per_query_j if stages[-1] in {x.name for x in rec.candidates} else None
    saved = (
        f", {percent(1 - c.measured_energy_per_query_j / last)} less than {stages[-1]} alone"
        if last and last > 0
        else f" (the saving against {stages[-1]} is not measured: its energy reads zero)"
    )
    verdict = (
        "it meets the goal"
        if c.verdict == "meets"
        else f"its gate is certified at {c.certified_at:.1%} on {c.samples_calibration} other samples, but the held-out interval "
        "cannot confirm the goal, so it is not recommended"
    )
    return f"{head}, at {joules(c.measured_energy_per_query_j, ' J/query')} measured as one pipeline{saved} ({computed}); {verdict}."


def distillation_lines(rec: Recommendation) -> list[str]:
    """How close a distilled student comes to its teacher, and the caveat when the teacher saw the samples."""
    d = rec.distillation
    if d is None:
        return []
    lines = [f"Distilled: {d.student} trained on {d.texts} texts labelled by {d.teacher} ({d.unlabelled})."]
    return lines + [x for x in (d.note, d.caveat and f"Caveat: {d.caveat}.") if x]


def derivation(c: CandidateResult) -> str:
    """How a derived candidate was made (its kind when nothing more is known), or that it was not made and why."""
    if c.making is not None:
        return c.making.method
    if c.derivation:
        return c.derivation
    return f"a {c.kind} variant, not made ({c.status})" if c.status != "ok" else f"a {c.kind} variant"


def lineage_lines(rec: Recommendation) -> list[str]:
    """One line per derived candidate: its parent, how it was made and, for a bespoke model, the one-off cost of
    making it (apart from inference) and when that is repaid."""
    lines = []
    for c in rec.candidates:
        mk = c.making
        if mk is None and not c.derived_from:
            continue
        line = f"{c.name}, from {mk.parent if mk and mk.parent else c.derived_from}: {derivation(c)}"
        if mk is not None:
            earlier = any(st.earlier for st in mk.steps)
            line += f"; making it cost {joules(mk.energy_j)} and {duration(mk.duration_s)}" + (
                " (made before this run and reused: its recorded figures)" if earlier else ""
            )
            line += f"; {mk.payback_note}" if mk.payback_note else ""
        lines.append(line + ".")
    return lines


def samples_line(rec: Recommendation) -> str | None:
    """When more samples were drawn: how many the answer rests on, and what the extra samples cost."""
    looks, first = rec.search.looks, min((lk.samples for lk in rec.search.looks), default=None)
    extra = [lk for lk in looks if first is not None and lk.samples > first]
    if not extra:
        return None
    names = ", ".join(dict.fromkeys(n for lk in extra for n in lk.measured))
    return (
        f"Decided on up to {max(lk.samples for lk in extra)} samples (the first {first}, then more for {names}): the extra samples "
        f"cost {joules(sum(lk.energy_j for lk in extra))} and {duration(sum(lk.duration_s for lk in extra))}"
        f" (rows available: {rec.search.rows_available})."
    )


def outcome_lines(rec: Recommendation) -> list[str]:
    """More samples, savings, the cascade and the distillation, in that order: the sentences that follow the answer."""
    cascade = cascade_line(rec) or rec.no_cascade
    return [x for x in [samples_line(rec)] if x] + savings_lines(rec) + [x for x in [cascade] if x] + distillation_lines(rec)


def cost_line(rec: Recommendation) -> str:
    """What the run itself cost, and for an adaptive run what measuring everything would have."""
    cost = rec.advisor_cost
    line = f"This run ({rec.search.strategy}): {duration(cost.duration_s)}, {joules(cost.energy_j)} (same method)."
    spent = ratio(cost.energy_j, cost.exhaustive_estimate_j)
    if cost.not_estimated:  # a share of a partial estimate would overstate what the search spent: none is printed
        known = (
            f"at least {joules(cost.exhaustive_estimate_j)} for the candidates it can be scaled for, " if cost.exhaustive_estimate_j else ""
        )
        line += (
            f" What measuring every candidate on every sample would cost is not stated ({known}nothing of their kind was "
            f"measured to scale from for {', '.join(cost.not_estimated)}), so neither is the share this run spent."
        )
    elif spent is not None:
        line += (
            f" Measuring every candidate on every sample: about {joules(cost.exhaustive_estimate_j)} and "
            f"{duration(cost.exhaustive_estimate_s)} (estimated; this run spent {percent(spent)} of it)."
        )
    ahead = ahead_line(rec)
    return f"{line} {ahead}" if ahead else line


def ahead_line(rec: Recommendation) -> str | None:
    """With several measuring nodes: which first looks ran ahead, and what the ones not needed cost."""
    a = rec.search.ahead
    if a is None:
        return None
    line = f"Ran ahead on {a.slots} measuring nodes, one measurement each at a time: {len(a.used)} first looks used"
    if a.unused:
        line += (
            f"; {len(a.unused)} not needed by the search ({', '.join(a.unused)}: "
            f"{joules(a.unused_energy_j)} metered, counted above"
            + (f"; {duration(a.cancelled_s)} of cancelled work reported no energy" if a.cancelled_s else "")
            + ")"
        )
    return line + "."


def verdict_text(c: CandidateResult, rec: Recommendation, verdict: str) -> str:
    """How a measured candidate stands against the goal, in words.

    ``verdict`` is the candidate's ``meets``, ``fails`` or ``undecided`` (:func:`advisor.core.ranking.verdict_of`).
    """
    if c.name == rec.model:
        return "recommended"
    if verdict == "undecided":
        return f"undecided (~{c.samples_needed} samples would decide)" if c.samples_needed else "undecided"
    return {"meets": "meets", "fails": "below goal"}[verdict]
