"""How to serve a model: pure choices over measured serving configurations (no models, no I/O).

A configuration is a runtime, a batch size and a thread count (:class:`advisor.core.results.ServingPoint`).
A request's latency is its batch's compute time plus, when a request rate is given, the wait for its
batch to fill: the first request of a batch of ``b`` waits for ``b - 1`` more at ``queries_per_second``
(the longest wait, so the figure errs on the slow side). With a latency goal the least-energy
configuration whose p95 is within the goal (and which keeps up with the rate) is chosen; without one,
the least-energy configuration, with the energy-latency frontier beside it.

Two configurations *tie* on energy when their energy intervals overlap (or, with no interval, their
means are equal), unless every window of one lies above the other's interval (the sequential windows
stop a clear loser after two, whose interval is then wide; its windows still tell it apart): of tied
configurations the faster (lower p95) is chosen, then the one with fewer threads, then the smaller
batch; across models, then the one the quality ranking put first.
"""

from __future__ import annotations

from collections.abc import Sequence

from advisor.core.formats import latency_goal, milliseconds
from advisor.core.results import CandidateServing, ServingChoice, ServingPoint
from advisor.core.sentences import configuration


def energy_label(method_energy: str) -> str:
    """How energy was obtained (``Method.energy``), said at each figure: ``ESTIMATED`` on a machine without counters."""
    return {"estimated": "ESTIMATED", "measured": "measured", "fake": "fake meter", "not measured": "energy not measured"}.get(
        method_energy, method_energy
    )


def fill_wait_ms(batch_size: int, queries_per_second: float | None) -> float:
    """The longest wait of a request for its batch to fill, in ms: ``(batch - 1) / rate`` (0 without a rate)."""
    if not queries_per_second or batch_size <= 1:
        return 0.0
    return (batch_size - 1) / queries_per_second * 1000.0


def with_goal(p: ServingPoint, max_latency_ms: float | None, queries_per_second: float | None) -> ServingPoint:
    """``p`` with its request latency (compute plus fill wait), whether it keeps up with the rate and meets the goal."""
    wait = fill_wait_ms(p.wait_queries or p.batch_size, queries_per_second)
    keeps_up = None if not queries_per_second else p.throughput_qps >= queries_per_second
    p50, p95 = p.batch_p50_ms + wait, p.batch_p95_ms + wait
    meets = None if max_latency_ms is None else (p95 <= max_latency_ms and keeps_up is not False)
    return p.model_copy(
        update={"fill_wait_ms": wait, "latency_p50_ms": p50, "latency_p95_ms": p95, "keeps_up": keeps_up, "meets_goal": meets}
    )


def _interval(p: ServingPoint) -> tuple[float, float]:
    ci = p.energy.ci_per_query_j
    return (ci[0], ci[1]) if ci else (p.energy.per_query_j, p.energy.per_query_j)


def overlap(a: ServingPoint, b: ServingPoint) -> bool:
    """Whether the energy-per-query intervals of ``a`` and ``b`` overlap."""
    (al, ah), (bl, bh) = _interval(a), _interval(b)
    return al <= bh and bl <= ah


def tied(a: ServingPoint, b: ServingPoint) -> bool:
    """Whether ``a`` and ``b`` cannot be told apart on energy per query: their intervals overlap, and neither has every
    window above the other's interval."""
    return overlap(a, b) and not _above(a, _interval(b)[1]) and not _above(b, _interval(a)[1])


def _above(p: ServingPoint, level: float) -> bool:
    """Whether every metered window of ``p`` used more energy per query than ``level``."""
    windows = p.energy.repeats_per_query_j
    return bool(windows) and min(windows) > level


def frontier(points: Sequence[ServingPoint]) -> list[int]:
    """Indices of the points no other beats on both energy per query and p95 latency, fastest first."""

    def beaten(p: ServingPoint) -> bool:
        e, t = p.energy.per_query_j, p.latency_p95_ms
        return any(
            o.energy.per_query_j <= e and o.latency_p95_ms <= t and (o.energy.per_query_j < e or o.latency_p95_ms < t) for o in points
        )

    keep = [i for i, p in enumerate(points) if not beaten(p)]
    return sorted(keep, key=lambda i: (points[i].latency_p95_ms, points[i].energy.per_query_j))


def _order_key(p: ServingPoint, rank: int = 0) -> tuple:
    return (p.latency_p95_ms, rank, p.threads, p.batch_size)


def least_energy(pairs: Sequence[tuple[ServingPoint, int]]) -> int | None:
    """Index into ``pairs`` (point, model rank) of the least-energy point, ties broken as the module says; None if empty."""
    if not pairs:
        return None
    lowest = min(range(len(pairs)), key=lambda i: pairs[i][0].energy.per_query_j)
    tie = [i for i in range(len(pairs)) if tied(pairs[i][0], pairs[lowest][0])]
    return min(tie, key=lambda i: _order_key(*pairs[i]))


def choose(points: Sequence[ServingPoint], max_latency_ms: float | None) -> tuple[int | None, str]:
    """The chosen point's index (None: none meets the goal) and why, in words (for one model)."""
    if not points:
        return None, "no configuration was measured"
    ok = [i for i, p in enumerate(points) if max_latency_ms is None or p.meets_goal]
    if not ok:
        fastest = min(points, key=lambda p: p.latency_p95_ms)
        slow = "" if fastest.keeps_up is not False else ", and it cannot keep up with the request rate"
        return None, (
            f"no configuration meets {latency_goal(max_latency_ms)}: the fastest, {configuration(fastest)}, "
            f"has p95 {milliseconds(fastest.latency_p95_ms)}{slow}"
        )
    best = ok[least_energy([(points[i], 0) for i in ok])]
    p = points[best]
    ties = [i for i in ok if i != best and tied(points[i], p)]
    among = f"of the {len(ok)} configurations meeting {latency_goal(max_latency_ms)}" if max_latency_ms else "with no latency goal"
    why = f"least energy per query {among}"
    if ties:
        why += f" (tied on energy with {len(ties)} other{'s' if len(ties) > 1 else ''}, intervals overlapping: the fastest of them)"
    return best, why


def decide(
    sweeps: Sequence[CandidateServing], order: Sequence[str], max_latency_ms: float | None
) -> tuple[str | None, ServingPoint | None, ServingChoice]:
    """The (model, configuration) pair to serve across the swept models, and the decision as data
    (:func:`advisor.core.sentences.serving_answer` words it).

    Args:
        sweeps: each model's sweep, its points already through :func:`with_goal`.
        order: the models in the quality ranking's order (first: the recommended one), for ties.
        max_latency_ms: the latency goal (None: least energy, whatever the latency).
    """
    rank = {n: i for i, n in enumerate(order)}
    pairs = [
        (p, rank.get(s.name, len(rank)), s.name) for s in sweeps if not s.failed for p in s.points if max_latency_ms is None or p.meets_goal
    ]
    measured = [s for s in sweeps if s.points]
    if not measured:
        return None, None, ServingChoice(case="none_measured")
    if not pairs:
        fastest = min(((p, s.name) for s in measured for p in s.points), key=lambda x: x[0].latency_p95_ms)
        return None, None, ServingChoice(case="none_meets", models=len(measured), fastest=fastest[1], fastest_point=fastest[0])
    i = least_energy([(p, r) for p, r, _ in pairs])
    point, _, name = pairs[i]
    choice = ServingChoice(
        case="chosen",
        configurations=len(pairs),
        models=len({n for _, _, n in pairs}),
        ties=sum(1 for j, (p, _, _) in enumerate(pairs) if j != i and tied(p, point)),
        energy_measured=any(p.energy.per_query_j > 0 for p, _, _ in pairs),  # a null meter, or windows too short: every point ties
    )
    first = order[0] if order else None
    if max_latency_ms and first and name != first and any(s.name == first for s in measured):
        theirs = [p.energy.per_query_j for p, _, n in pairs if n == first]
        choice = choice.model_copy(update={"recommended": first, "recommended_best_j": min(theirs) if theirs else None})
    return name, point, choice
