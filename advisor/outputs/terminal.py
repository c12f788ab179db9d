"""Tables and closing lines on a console: a Rich table on a terminal, plain unbroken lines in logs.

Without a terminal (CI, ``| tee``, a file) every table row is one line, full width, never wrapped
or cut, so names like ``all-MiniLM-L6-v2 [onnx-int8]`` stay whole and ``grep`` finds them.
Words and numbers come from :mod:`advisor.outputs.text`; this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from advisor.core.ranking import verdict_of
from advisor.core.results import CandidateResult, Recommendation
from advisor.outputs.text import (
    cost_line,
    energy_cell,
    energy_note,
    goal_of,
    human_count,
    joules,
    latency_goal,
    lineage_lines,
    megabytes,
    milliseconds,
    number,
    outcome_lines,
    percent,
    quality_of,
    verdict_text,
)

Cell = str | Text
"""A table cell: plain text (never read as Rich markup, so ``[onnx-int8]`` survives) or styled :class:`~rich.text.Text`."""

Column = str | tuple[str, str]
"""A column header, or ``(header, justify)`` with justify ``left`` or ``right``."""


def is_live(console: Console) -> bool:
    """Whether the console shows Rich layout (a terminal or a notebook); otherwise it is a log."""
    return console.is_terminal or console.is_jupyter


def print_table(
    console: Console,
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    styles: Sequence[str | None] | None = None,
) -> None:
    """Print a table: a Rich table on a terminal, plain aligned lines (one per row, never wrapped) otherwise.

    Args:
        console: where to print.
        title: shown above the table (None for none).
        columns: headers, each a string (left-justified) or ``(header, "left" | "right")``.
        rows: cells, plain strings or styled :class:`~rich.text.Text`.
        styles: an optional Rich style per row (terminal only), e.g. ``"bold"``.
    """
    cols = [(c, "left") if isinstance(c, str) else c for c in columns]
    if is_live(console):
        table = Table(title=Text(title) if title else None)
        for header, justify in cols:
            table.add_column(Text(header), justify=justify, overflow="fold")
        for i, row in enumerate(rows):
            table.add_row(*(c if isinstance(c, Text) else Text(c) for c in row), style=styles[i] if styles else None)
        console.print(table)
        return
    for line in plain_table(title, cols, rows):
        console.print(Text(line), soft_wrap=True)


def plain_table(title: str | None, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Cell]]) -> list[str]:
    """The table as aligned text lines: the title, the headers, a rule, then one line per row (no line is ever broken)."""

    def flat(cell: Cell) -> str:
        text = cell.plain if isinstance(cell, Text) else str(cell)
        return " ".join(text.split())  # a newline inside a cell would break the one-row-one-line promise

    body = [[flat(c) for c in row] for row in rows]
    heads = [flat(h) for h, _ in columns]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(heads)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if just == "right" else c.ljust(w) for c, w, (_, just) in zip(cells, widths, columns)).rstrip()

    rule = ["-" * w for w in widths]
    if columns and columns[-1][1] == "left":
        rule[-1] = "-" * len(heads[-1])  # a left-justified last column is not padded (a long reason would draw a long rule)
    out = [flat(title)] if title else []
    return out + [line(heads), line(rule)] + [line(r) for r in body]


def _status(c: CandidateResult, rec: Recommendation) -> Text:
    if c.status != "ok":
        return Text(f"{c.status}: {c.reason}", style="dim" if c.status in ("dropped", "pruned") else "yellow")
    text = verdict_text(c, rec, verdict_of(c, rec.threshold))
    if text == "recommended":
        return Text("* recommended", style="bold green")
    return Text(text, style="dim" if text == "below goal" else "")


def _say(console: Console, text: str, style: str = "") -> None:
    """One closing sentence: wrapped to the width on a terminal, one unbroken line in a log."""
    console.print(Text(text, style=style), soft_wrap=not is_live(console))


def render_table(rec: Recommendation, console: Console) -> None:
    """Print every candidate's figures, the answer sentence and where the results are."""
    title = (
        f"{rec.task.name}: {goal_of(rec)} on {rec.task.samples} samples, {percent(rec.confidence)} intervals (ranked by {rec.ranked_by})"
    )
    tokens = any(c.energy and c.energy.per_token_j for c in rec.candidates)
    columns: list[Column] = ["candidate", "tier", (rec.task.metric_label, "right"), ("J/query", "right"), ("marginal J/q", "right")]
    columns += [("J/token", "right"), ("tokens/q", "right")] if tokens else []
    columns += [("p50 ms", "right"), ("p95 ms", "right"), ("peak MB", "right"), ("params", "right"), "status"]
    rows = []
    for c in rec.candidates:
        e = c.energy
        per_token = [joules(e and e.per_token_j, ""), number(e and e.tokens_per_query, ".1f")] if tokens else []
        rows.append(
            [
                c.name,
                c.tier,
                quality_of(c, rec.task.samples),
                energy_cell(e),
                joules(e and e.marginal_per_query_j, ""),
                *per_token,
                milliseconds(c.latency_p50_ms, ""),
                milliseconds(c.latency_p95_ms, ""),
                megabytes(c.peak_rss_mb, ""),
                human_count(c.parameters),
                _status(c, rec),
            ]
        )
    print_table(console, title, columns, rows, ["bold" if c.name == rec.model else None for c in rec.candidates])
    _say(console, rec.summary, {"recommended": "green", "undecided": "yellow"}.get(rec.decision, "red"))
    for line in outcome_lines(rec):
        _say(console, line)
    for line in lineage_lines(rec):
        _say(console, f"Derived: {line}")
    if len(rec.pareto) > 1:
        _say(console, f"Pareto frontier (quality vs energy, cheapest first): {' -> '.join(rec.pareto)}")
    if rec.serving is not None:
        render_serving(rec, console)
    _say(console, energy_note(rec), "dim")
    _say(console, f"{cost_line(rec)} Results: {rec.settings.get('reports_dir')}/{rec.run_id}/results.json, report.html, report.md", "dim")


def render_serving(rec: Recommendation, console: Console) -> None:
    """The "how to serve it" part: each swept model's frontier, its choice and the run's configuration, then the answer."""
    from advisor.outputs import serving as servingtext
    from advisor.serving.choice import energy_label

    s = rec.serving
    goal = latency_goal(s.max_latency_ms, none="no latency goal (energy-latency frontier)")
    rate = f", {s.queries_per_second:g} queries/s" if s.queries_per_second else ""
    if s.candidates:
        print_table(console, f"How to serve it: {goal}{rate}", servingtext.COLUMNS, servingtext.rows(s))
    else:
        _say(console, "How to serve it:", "bold")
    for i, line in enumerate(servingtext.lines(s, energy_label(rec.method.energy), rec.settings.get("queries_per_day"))):
        _say(console, line, "bold" if i == 0 else "")
