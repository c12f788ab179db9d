"""Charts for the report, drawn by matplotlib as inline SVG (no JavaScript, no network)."""

from __future__ import annotations

import io
import math

from advisor.core.results import CandidateResult, Recommendation
from advisor.outputs.text import joules

STYLE = {"svg.fonttype": "none", "svg.hashsalt": "advisor", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def svg(fig) -> str:
    """The figure as inline SVG text. Margins are set by the caller (tight_layout would double the drawing cost)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG is inlined in HTML


def _measured(rec: Recommendation) -> list[CandidateResult]:
    return [c for c in rec.candidates if c.status == "ok" and c.quality is not None and c.energy is not None]


def quality_energy_chart(rec: Recommendation, front: list[str]) -> str | None:
    """Quality against energy per query: spread of the repeats, threshold, Pareto frontier, the recommendation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = _measured(rec)
    if not points:
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 4.6))
        fig.subplots_adjust(left=0.08, right=0.97, top=0.9, bottom=0.12)
        energies = [c.energy.per_query_j for c in points]
        positive = [e for e in energies if e > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
        xs = [c.energy.per_query_j for c in points]
        ys = [c.quality for c in points]
        lo = [x - min(c.energy.repeats_per_query_j or [x]) for x, c in zip(xs, points)]
        hi = [max(c.energy.repeats_per_query_j or [x]) - x for x, c in zip(xs, points)]
        ylo = [max(0.0, y - c.quality_ci[0]) if c.quality_ci else 0.0 for y, c in zip(ys, points)]  # a bootstrap interval
        yhi = [max(0.0, c.quality_ci[1] - y) if c.quality_ci else 0.0 for y, c in zip(ys, points)]  # may exclude its point
        lo, hi = [max(0.0, v) for v in lo], [max(0.0, v) for v in hi]
        ax.errorbar(xs, ys, xerr=[lo, hi], yerr=[ylo, yhi], fmt="none", ecolor="#b8bcc4", capsize=2, zorder=2)
        colors = ["#2b6cb0" if c.name in front else "#8a8f98" for c in points]
        ax.scatter(xs, ys, s=36, c=colors, zorder=3)
        log = ax.get_xscale() == "log"
        pos = [math.log10(x) if log else x for x in xs if x > 0 or not log]
        lo_x, span = (min(pos), (max(pos) - min(pos)) or 1.0) if pos else (0.0, 1.0)
        for c, x, y in zip(points, xs, ys):
            chosen = c.name == rec.model
            if chosen:
                ax.scatter([x], [y], s=260, marker="*", c="#1b7f3b", zorder=4)
            right_side = ((math.log10(x) if log and x > 0 else x) - lo_x) / span > 0.6  # label leftwards near the right edge
            ax.annotate(
                c.name + (" (recommended)" if chosen else ""),
                (x, y),
                textcoords="offset points",
                xytext=(-6 if right_side else 6, 5),
                ha="right" if right_side else "left",
                fontsize=8,
                fontweight="bold" if chosen else "normal",
            )
        by_name = {c.name: c for c in points}
        for c in points:  # a derived candidate is joined to its parent: what deriving it changed
            parent = by_name.get(c.derived_from or "")
            if parent is not None:
                ax.annotate(
                    "",
                    (c.energy.per_query_j, c.quality),
                    xytext=(parent.energy.per_query_j, parent.quality),
                    arrowprops={"arrowstyle": "->", "color": "#9f7aea", "lw": 1, "alpha": 0.8, "shrinkA": 4, "shrinkB": 4},
                    zorder=2,
                )
        if any(by_name.get(c.derived_from or "") for c in points):
            ax.plot([], [], color="#9f7aea", lw=1, label="parent -> derived")
        _cascades(ax, points, by_name)
        fx = [by_name[n].energy.per_query_j for n in front if n in by_name]
        fy = [by_name[n].quality for n in front if n in by_name]
        if len(fx) > 1:
            ax.step(fx, fy, where="post", color="#2b6cb0", lw=1, alpha=0.6, label="Pareto frontier", zorder=2)
        if rec.threshold is not None:
            ax.axhline(rec.threshold, color="#c53030", ls="--", lw=1, label=f"threshold {rec.threshold:.2f}")
        ax.set_xlabel("energy per query (J" + (", estimated" if rec.method.energy == "estimated" else "") + ")")
        ax.set_ylabel(rec.task.metric_label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False)
        ax.grid(alpha=0.25)
        return svg(fig)


def _cascades(ax, points: list[CandidateResult], by_name: dict[str, CandidateResult]) -> None:
    """A measured cascade as a diamond, joined by dashed lines to the stages it is made of."""
    drawn = False
    for c in points:
        if c.kind != "cascade":
            continue
        ax.scatter([c.energy.per_query_j], [c.quality], s=70, marker="D", facecolors="none", edgecolors="#dd6b20", zorder=4)
        for name in c.cascade.stages if c.cascade else []:
            stage = by_name.get(name)
            if stage is not None:
                xs, ys = [stage.energy.per_query_j, c.energy.per_query_j], [stage.quality, c.quality]
                ax.plot(xs, ys, color="#dd6b20", ls=":", lw=1, alpha=0.8, zorder=2)
        drawn = True
    if drawn:
        ax.plot([], [], color="#dd6b20", ls=":", lw=1, marker="D", mfc="none", label="cascade (measured) and its stages")


def energy_breakdown_chart(rec: Recommendation) -> str | None:
    """Energy per query by component (CPU, RAM, GPU) for every measured candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(_measured(rec), key=lambda c: c.energy.per_query_j)
    if not points:
        return None
    with plt.rc_context(STYLE):
        height = 0.45 * len(points) + 1.1
        fig, ax = plt.subplots(figsize=(7.5, height))
        longest = max(len(c.name) for c in points)
        fig.subplots_adjust(left=min(0.6, 0.04 + 0.0105 * longest), right=0.9, top=1 - 0.35 / height, bottom=0.55 / height)
        names = [c.name for c in points]
        left = [0.0] * len(points)
        for part, color in (("cpu", "#2b6cb0"), ("ram", "#90cdf4"), ("gpu", "#d69e2e")):
            values = [getattr(c.energy, f"{part}_per_query_j") for c in points]
            if any(values):
                ax.barh(names, values, left=left, color=color, label=part.upper())
                left = [a + b for a, b in zip(left, values)]
        for y, c in enumerate(points):
            ax.annotate(joules(c.energy.per_query_j), (left[y], y), textcoords="offset points", xytext=(4, -3), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("energy per query (J)")
        ax.margins(x=0.12)
        if ax.get_legend_handles_labels()[0]:  # all-zero energy (a null meter) draws no bars to name
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, fontsize=8, frameon=False)
        return svg(fig)
