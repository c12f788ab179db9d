"""The report's "how to serve it" part: the serving sweep's table, sentences and its energy-latency chart."""

from __future__ import annotations

from dataclasses import dataclass, field

from advisor.core.results import Recommendation, Serving
from advisor.outputs import serving as servingtext
from advisor.outputs.report.charts import STYLE, svg
from advisor.outputs.text import latency_goal, milliseconds
from advisor.serving.choice import energy_label
from advisor.spec.runtimes import RUNTIMES

_COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568"]
_MARKERS = {name: r.marker for name, r in RUNTIMES.items()}


@dataclass
class ServingView:
    """What the templates show of the serving sweep."""

    title: str
    lines: list[str]
    chart: str | None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def serving_view(rec: Recommendation) -> ServingView | None:
    """The serving part of the report (None when the run had no serving sweep)."""
    s = rec.serving
    if s is None:
        return None
    goal = latency_goal(s.max_latency_ms, ge="≤", none="no latency goal: the energy–latency frontier")
    rate = f", {s.queries_per_second:g} queries/s" if s.queries_per_second else ""
    columns = [c if isinstance(c, str) else c[0] for c in servingtext.COLUMNS]
    return ServingView(
        title=f"How to serve it ({goal}{rate})",
        lines=servingtext.lines(s, energy_label(rec.method.energy), rec.settings.get("queries_per_day")),
        chart=serving_chart(s, rec.method.energy == "estimated"),
        columns=columns,
        rows=servingtext.rows(s, everything=True),
    )


def serving_chart(s: Serving, estimated: bool) -> str | None:
    """Energy per query against p95 latency, one point per configuration: the goal line, each model's frontier,
    the run's own configuration ringed and the chosen one starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [c for c in s.candidates if c.points]
    if not measured:
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 4.6))
        fig.subplots_adjust(left=0.09, right=0.97, top=0.88, bottom=0.12)
        xs = [p.latency_p95_ms for c in measured for p in c.points]
        ys = [p.energy.per_query_j for c in measured for p in c.points]
        if min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        if min(ys) > 0 and max(ys) / min(ys) > 20:
            ax.set_yscale("log")
        for k, c in enumerate(measured):
            color = _COLORS[k % len(_COLORS)]
            for runtime in dict.fromkeys(p.runtime for p in c.points):
                pts = [p for p in c.points if p.runtime == runtime]
                ax.scatter(
                    [p.latency_p95_ms for p in pts],
                    [p.energy.per_query_j for p in pts],
                    s=30,
                    c=color,
                    marker=_MARKERS.get(runtime, "o"),
                    label=f"{c.name}, {runtime}",
                    zorder=3,
                )
            for p in c.points:
                ax.annotate(
                    f"b{p.batch_size}·t{p.threads}",
                    (p.latency_p95_ms, p.energy.per_query_j),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=7,
                )
            front = [c.points[i] for i in c.frontier]
            if len(front) > 1:
                ax.step(
                    [p.latency_p95_ms for p in front], [p.energy.per_query_j for p in front], where="post", color=color, lw=1, alpha=0.5
                )
            default = next((p for p in c.points if p.default), None)
            if default is not None:
                ax.scatter([default.latency_p95_ms], [default.energy.per_query_j], s=160, facecolors="none", edgecolors="#4a5568", zorder=4)
        if s.point is not None:
            ax.scatter([s.point.latency_p95_ms], [s.point.energy.per_query_j], s=300, marker="*", c="#1b7f3b", zorder=5, label="chosen")
        if s.max_latency_ms:
            ax.axvline(s.max_latency_ms, color="#c53030", ls="--", lw=1, label=f"goal p95 {milliseconds(s.max_latency_ms)}")
        ax.set_xlabel("p95 latency of a request (ms)" + (", batch fill wait included" if s.queries_per_second else ""))
        ax.set_ylabel("energy per query (J" + (", estimated" if estimated else "") + ")")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, fontsize=7, frameon=False)
        ax.grid(alpha=0.25)
        return svg(fig)
