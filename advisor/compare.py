"""Compare two runs, candidate by candidate (``advisor diff``)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from advisor.errors import AdvisorError
from advisor.results import Recommendation


def load_run(ref: str, store: Path | None = None) -> Recommendation:
    """A run from a results.json path, or by id from the result store."""
    from advisor.store import ResultStore

    path = Path(ref)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise AdvisorError(f"{path}: file not found; give a results.json path or a stored run id (advisor history lists them)")
        try:
            return Recommendation.load(path)
        except ValueError as exc:
            raise AdvisorError(f"{path}: not a results.json this advisor can read ({str(exc).splitlines()[0]})") from None
    with ResultStore(store) as s:
        return Recommendation.model_validate(s.get_run(ref))


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "–"
    return f"{new / old - 1:+.0%}" if old > 0 else "–"


def compare(a: Recommendation, b: Recommendation) -> Table:
    """A table of each candidate in either run: quality and energy per query in A and B, and the change."""
    metric = b.task.metric_label
    title = f"{a.run_id} -> {b.run_id}: recommended {a.model or a.decision} -> {b.model or b.decision}"
    if a.task.data_sha256 != b.task.data_sha256:
        title += " (different samples)"
    t = Table(title=title)
    for col in ("candidate", f"{metric} A", f"{metric} B", "J/query A", "J/query B", "energy change", "status A -> B"):
        t.add_column(col)
    by_a = {c.name: c for c in a.candidates}
    by_b = {c.name: c for c in b.candidates}
    for name in [*by_a, *[n for n in by_b if n not in by_a]]:
        ca, cb = by_a.get(name), by_b.get(name)

        def q(c):
            return f"{c.quality:.3f}" if c is not None and c.quality is not None else "–"

        def j(c):
            return c.energy_per_query_j if c is not None else None

        t.add_row(name, q(ca), q(cb), "–" if j(ca) is None else f"{j(ca):.4g}", "–" if j(cb) is None else f"{j(cb):.4g}", _change(j(ca), j(cb)),
                  f"{ca.status if ca else 'absent'} -> {cb.status if cb else 'absent'}")
    return t
