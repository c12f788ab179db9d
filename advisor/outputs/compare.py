"""Compare two runs, candidate by candidate (``advisor diff``)."""

from __future__ import annotations

from dataclasses import dataclass

from advisor.core.results import CandidateResult, Recommendation
from advisor.outputs.text import joules, quality_cell, relative_change


@dataclass(frozen=True)
class Diff:
    """The comparison as a table: a title, ``(header, justify)`` columns and rows of formatted cells.

    Printed by :func:`advisor.outputs.terminal.print_table` (a Rich table on a terminal, plain lines otherwise).
    """

    title: str
    columns: list[tuple[str, str]]
    rows: list[list[str]]


def _energy(c: CandidateResult | None) -> float | None:
    return c.energy_per_query_j if c is not None else None


def compare(a: Recommendation, b: Recommendation) -> Diff:
    """Each candidate in either run: quality and energy per query in A and B, the energy change and the status."""
    metric = b.task.metric_label
    title = f"{a.run_id} -> {b.run_id}: recommended {a.model or a.decision} -> {b.model or b.decision}"
    if a.task.data_sha256 != b.task.data_sha256:
        title += " (different samples)"
    columns = [
        ("candidate", "left"),
        (f"{metric} A", "right"),
        (f"{metric} B", "right"),
        ("J/query A", "right"),
        ("J/query B", "right"),
        ("energy change", "right"),
        ("status A -> B", "left"),
    ]
    by_a = {c.name: c for c in a.candidates}
    by_b = {c.name: c for c in b.candidates}
    rows = []
    for name in [*by_a, *[n for n in by_b if n not in by_a]]:
        ca, cb = by_a.get(name), by_b.get(name)
        rows.append(
            [
                name,
                quality_cell(ca and ca.quality),
                quality_cell(cb and cb.quality),
                joules(_energy(ca), ""),
                joules(_energy(cb), ""),
                relative_change(_energy(ca), _energy(cb)),
                f"{ca.status if ca else 'absent'} -> {cb.status if cb else 'absent'}",
            ]
        )
    return Diff(title, columns, rows)
