"""The serving sweep in words and table rows, for the terminal and the reports (numbers formatted by :mod:`advisor.outputs.text`)."""

from __future__ import annotations

from advisor.core.results import CandidateServing, Serving, ServingPoint
from advisor.core.sentences import configuration
from advisor.outputs.text import DASH, duration, joules, milliseconds, number, ratio, times

COLUMNS = ["model", "runtime", ("batch", "right"), ("threads", "right"), ("J/query", "right"), ("±", "right")]
COLUMNS += [("p50 ms", "right"), ("p95 ms", "right"), ("q/s", "right"), "note"]


def _note(s: Serving, c: CandidateServing, i: int) -> str:
    p = c.points[i]
    notes = []
    if s.model == c.name and s.point == p:
        notes.append("* chosen")
    elif c.chosen == i and len(s.candidates) > 1:
        notes.append(f"{c.name}'s best")
    if p.default:
        notes.append("the run's configuration")
    if i in c.frontier:
        notes.append("frontier")
    if p.meets_goal is False:
        notes.append("cannot keep up" if p.keeps_up is False else "misses the goal")
    return ", ".join(notes)


def _half(p: ServingPoint) -> str:
    ci = p.energy.ci_per_query_j
    return joules((ci[1] - ci[0]) / 2, "") if ci else DASH


def rows(s: Serving, everything: bool = False) -> list[list[str]]:
    """One row per configuration: all of them, or (default) each model's frontier, its choice and the run's own configuration."""
    out = []
    for c in s.candidates:
        for i, p in enumerate(c.points):
            if not everything and not (i in c.frontier or i == c.chosen or p.default):
                continue
            out.append(
                [
                    c.name,
                    p.runtime,
                    str(p.batch_size) + (" by length" if p.batching == "length" else ""),
                    str(p.threads),
                    joules(p.energy.per_query_j, ""),
                    _half(p),
                    milliseconds(p.latency_p50_ms, ""),
                    milliseconds(p.latency_p95_ms, ""),
                    number(p.throughput_qps, ".1f"),
                    _note(s, c, i),
                ]
            )
    return out


def versus_default(s: Serving) -> str | None:
    """The chosen configuration's energy per query against the run's own configuration of the same model, measured alike."""
    c = next((c for c in s.candidates if c.name == s.model), None)
    default = next((p for p in c.points if p.default), None) if c else None
    if s.point is None or default is None:
        return None
    if s.point == default:
        return f"The run's own configuration ({configuration(default)}) is the one chosen."
    against = f"Against the run's own configuration ({configuration(default)}: {joules(default.energy.per_query_j, ' J/query')}, "
    against += f"p95 {milliseconds(default.latency_p95_ms)}), the chosen one "
    r = ratio(s.point.energy.per_query_j, default.energy.per_query_j)
    if r is None:
        return against + f"has p95 {milliseconds(s.point.latency_p95_ms)}; their energy ratio is not measured (zero energy)."
    what = ": what meeting the latency goal costs" if r > 1 and s.max_latency_ms else ""
    how = "both measured the same way, with the same windows"
    how += "; the run's configuration as the run measured it" if default.measured_in == "run" else ""
    return against + f"uses {times(r)} the energy per query ({how}){what}."


def payback(s: Serving, queries_per_day: float | None = None) -> str | None:
    """What the sweep cost against what serving at its choice saves, and what was reused instead of measured."""
    if not s.candidates:
        return None
    n = sum(len(c.points) for c in s.candidates)
    reused = (
        f"All {n} configurations were known already (the run's measurement, stored sweeps): nothing measured again. "
        if s.reused and s.reused == n
        else f"{s.reused} of {n} configurations were known already (the run's measurement, stored sweeps). "
        if s.reused
        else ""
    )
    if s.saved_per_query_j is None or s.point is None:
        return reused.strip() or None
    if s.saved_per_query_j <= 0:
        return reused + "The chosen configuration saves no energy per query against the run's own."
    if s.payback_queries is None:
        return reused + f"Serving at the chosen configuration saves {joules(s.saved_per_query_j, ' J/query')}, at no sweep cost."
    days = ""
    if queries_per_day:
        days = f" (about {duration(s.payback_queries / queries_per_day * 86400)} at {queries_per_day:,.0f} queries a day)"
    return (
        reused + f"Serving at the chosen configuration saves {joules(s.saved_per_query_j, ' J/query')}: the sweep pays for itself "
        f"after {s.payback_queries:,.0f} queries{days}."
    )


def lines(s: Serving, energy_label: str = "", queries_per_day: float | None = None) -> list[str]:
    """The closing sentences: the answer, the comparison with the run's configuration, the wait, what was left out, the cost
    and what it pays back."""
    out = [s.answer]
    vs = versus_default(s)
    if vs:
        out.append(vs)
    back = payback(s, queries_per_day)
    if back:
        out.append(back)
    if s.candidates:
        out.append(s.wait_note)
    for c in s.candidates:
        if c.failed:
            out.append(f"{c.name}: the sweep failed: {c.failed}")
        if c.not_measured:
            out.append(f"{c.name}: {len(c.not_measured)} configuration(s) or runtime(s) not measured: {'; '.join(c.not_measured)}")
    if s.candidates:
        label = f", {energy_label}" if energy_label.startswith("energy") else f", energy {energy_label}" if energy_label else ""
        out.append(
            f"The sweep cost {duration(s.cost.duration_s)} and {joules(s.cost.energy_j)} (same meter{label}; not in the run's cost)."
        )
    return out
