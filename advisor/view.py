"""Turn a :class:`Recommendation` into the terminal table and closing lines (results never format themselves)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from advisor.ranking import verdict_of
from advisor.results import CandidateResult, Recommendation


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def human_count(n: int | None) -> str:
    """1234567 -> '1.2M'; a dash when absent."""
    if n is None:
        return "-"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def human_duration(days: float) -> str:
    """A span given in days, in the unit that reads best."""
    seconds = days * 86400
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} seconds"


def energy_note(rec: Recommendation) -> str:
    """One line on how energy was obtained, shown wherever energy figures are."""
    m = rec.method
    if m.get("energy") == "estimated":
        return (f"Energy is ESTIMATED by CodeCarbon {m.get('codecarbon_version')}, not measured (no RAPL/NVML counters here): "
                f"CPU from {m.get('cpu')} (TDP {m.get('cpu_tdp_w')} W), RAM from a {m.get('ram')}. "
                f"Idle baseline {rec.idle_power_w.get('total', 0):.2f} W; 'marginal' subtracts it.")
    if m.get("energy") == "measured":
        return f"Energy is MEASURED by CodeCarbon {m.get('codecarbon_version')}: {m.get('cpu')}; {m.get('gpu')}; {m.get('ram')}."
    return f"Energy: {m.get('energy', 'unknown')}."


def savings_lines(rec: Recommendation) -> list[str]:
    """The savings of the recommendation against the reference, in sentences (energy as the run measured it)."""
    sv = rec.savings
    if not sv:
        if rec.model and (rec.reference or rec.best) == rec.model:
            return [f"{rec.model} is also the reference (highest quality): there is no larger model to save against."]
        return []
    lines = [f"Against {sv['reference']}: {sv['saved_per_query_j']:.4g} J less per query ({sv['saved_share']:.0%} saved) "
             f"for {sv['quality_change']:+.3f} {rec.task.metric_label}."]
    if sv.get("queries_per_day"):
        parts = [f"{sv['saved_kwh_per_year']:,.2f} kWh"]
        if sv.get("saved_kg_co2e_per_year") is not None:
            parts.append(f"{sv['saved_kg_co2e_per_year']:,.2f} kg CO2e ({sv['carbon_intensity_g_per_kwh']:.0f} g/kWh, {sv['country']})")
        if sv.get("saved_money_per_year") is not None:
            parts.append(f"{sv['saved_money_per_year']:,.2f} at {sv['price_per_kwh']}/kWh")
        line = f"At {sv['queries_per_day']:,.0f} queries a day: {', '.join(parts)} saved a year on this hardware"
        if sv.get("advisor_payback_days") is not None:
            line += f"; this run's own energy is paid back in {human_duration(sv['advisor_payback_days'])}"
        lines.append(line + ".")
    return lines


def distillation_lines(rec: Recommendation) -> list[str]:
    """How close a distilled student comes to its teacher, and the caveat when the teacher saw the samples."""
    d = rec.distillation
    if not d:
        return []
    lines = [f"Distilled: {d['student']} trained on {d['texts']} texts labelled by {d['teacher']} ({d['unlabelled']})."]
    lines += [x for x in (d.get("note"), d.get("caveat") and f"Caveat: {d['caveat']}.") if x]
    return lines


def cascade_line(rec: Recommendation) -> str | None:
    """The cascade suggestion, when one beats the single model."""
    c = rec.cascade
    if not c:
        return None
    return (f"Cascade: {c['small']} answers when its confidence is >= {c['gate']:.3f}, else {c['large']} "
            f"({c['deferred_share']:.0%} deferred): {rec.task.metric_label} {c['quality']:.3f} (CI {c['quality_ci'][0]:.3f}-{c['quality_ci'][1]:.3f}) "
            f"at {c['energy_per_query_j']:.4g} J/query. The gate was chosen on these samples: confirm it on fresh ones.")


def verdict_text(c: CandidateResult, rec: Recommendation) -> str:
    """How a measured candidate stands against the goal, in words (shared by the terminal and the report)."""
    if c.name == rec.model:
        return "recommended"
    verdict = verdict_of(c, rec.threshold)
    if verdict == "undecided":
        return f"undecided (~{c.samples_needed} samples would decide)" if c.samples_needed else "undecided"
    return {"meets": "meets", "fails": "below goal"}[verdict]


def _status(c: CandidateResult, rec: Recommendation) -> str:
    if c.status != "ok":
        return f"[{'dim' if c.status in ('dropped', 'pruned') else 'yellow'}]{c.status}[/]: {c.reason}"
    text = verdict_text(c, rec)
    return {"recommended": "[bold green]* recommended[/]", "below goal": "[dim]below goal[/]"}.get(text, text)


def _quality(c: CandidateResult) -> str:
    if c.quality is None:
        return "-"
    return f"{c.quality:.3f}" + (f" [dim]{c.quality_ci[0]:.2f}-{c.quality_ci[1]:.2f}[/]" if c.quality_ci else "")


def render_table(rec: Recommendation, console: Console) -> None:
    """Print every candidate's figures, the answer sentence and where the results are."""
    goal = f"{rec.task.metric_label} >= {rec.threshold:.2f}" if rec.threshold is not None else f"at most {rec.max_drop} below {rec.reference}"
    t = Table(title=f"{rec.task.name}: {goal} on {rec.task.samples} samples, {rec.confidence:.0%} intervals (ranked by {rec.ranked_by})")
    tokens = any(c.energy and c.energy.per_token_j for c in rec.candidates)
    cols = [("candidate", "left"), ("tier", "left"), (rec.task.metric_label, "right"), ("J/query", "right"), ("marginal J/q", "right")]
    cols += [("J/token", "right"), ("tokens/q", "right")] if tokens else []
    for col, just in cols + [("p50 ms", "right"), ("p95 ms", "right"), ("peak MB", "right"), ("params", "right"), ("status", "left")]:
        t.add_column(col, justify=just, overflow="fold")
    for c in rec.candidates:
        e = c.energy
        per_token = [_num(e.per_token_j if e else None, ".4f"), _num(e.tokens_per_query if e else None, ".1f")] if tokens else []
        t.add_row(c.name, c.tier, _quality(c), _num(e.per_query_j if e else None, ".4f"), _num(e.marginal_per_query_j if e else None, ".4f"), *per_token,
                  _num(c.latency_p50_ms, ".1f"), _num(c.latency_p95_ms, ".1f"), _num(c.peak_rss_mb, ".0f"), human_count(c.parameters), _status(c, rec),
                  style="bold" if c.name == rec.model else None)
    console.print(t)
    color = {"recommended": "[green]", "undecided": "[yellow]"}.get(rec.decision, "[red]")
    console.print(color + rec.summary + "[/]", highlight=False)
    for line in savings_lines(rec) + [x for x in [cascade_line(rec)] if x] + distillation_lines(rec):
        console.print(line, highlight=False)
    if len(rec.pareto) > 1:
        console.print(f"Pareto frontier (quality vs energy, cheapest first): {' -> '.join(rec.pareto)}", highlight=False)
    console.print(f"[dim]{energy_note(rec)}[/]", highlight=False)
    console.print(f"[dim]{cost_line(rec)} Results: {rec.settings.get('reports_dir')}/{rec.run_id}/results.json, report.html, report.md[/]", highlight=False)


def cost_line(rec: Recommendation) -> str:
    """What the run itself cost, and for an adaptive run what measuring everything would have."""
    cost = rec.advisor_cost
    line = f"This run ({rec.search.get('strategy', 'exhaustive')}): {cost.get('duration_s', 0):.0f} s, {cost.get('energy_j', 0):.0f} J (same method)."
    if cost.get("exhaustive_estimate_j"):
        share = cost.get("energy_j", 0) / cost["exhaustive_estimate_j"]
        line += (f" Measuring every candidate on every sample: about {cost['exhaustive_estimate_j']:.0f} J and {cost['exhaustive_estimate_s']:.0f} s"
                 f" (estimated; this run spent {share:.0%} of it).")
    return line
