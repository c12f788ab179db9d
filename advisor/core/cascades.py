"""Cascades whose gates are chosen honestly: stages answer in order of cost, each when its confidence reaches its gate,
the last stage answering the rest.

The gate is chosen on calibration samples and the cascade is scored on other samples (a split of the samples every
stage was measured on; nested prefixes count). The choice is Learn-then-Test (Angelopoulos, Bates, Candès, Jordan,
Lei, 2021) with fixed-sequence testing: the gates are tried along a path fixed in advance, from deferring every
query to the last stage towards answering more with the cheaper ones; at each gate the null hypothesis "the
cascade's quality is below the threshold" is rejected when the quality's one-sided lower bound at level ``1 - delta``
on the calibration samples reaches the threshold; the first gate not rejected ends the path. The cheapest gate
rejected is chosen, and then ``P(quality of the chosen cascade >= threshold) >= 1 - delta`` over draws of the
calibration samples: fixed-sequence testing needs no correction for the number of gates tried. With an exact
lower bound (Clopper-Pearson, for accuracy) the guarantee is exact; with a bootstrap bound (F1) it is approximate.

Three or more stages share one gate (the path stays one-dimensional, so the sequence is fixed in advance). Pure:
numpy in, numbers out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from advisor.core.assess import metric_fn, prediction_interval
from advisor.core.figures import CandidateResult
from advisor.core.metricspec import MetricSpec
from advisor.core.reasons import Unfit
from advisor.core.results import Cascade

GATES: tuple[float, ...] = (np.inf, *np.round(np.arange(1.0, -0.001, -0.02), 2))
"""The path of gates, fixed in advance: never answer early (the last stage alone), then 1.00, 0.98, ... 0.00."""

LowerBound = Callable[[Sequence[str], Sequence[str]], float]
"""``(predictions, labels) -> one-sided lower bound of the quality at level 1 - delta``."""


@dataclass(frozen=True)
class Stage:
    """One stage: its answers and confidences on the shared samples, and its energy per query."""

    name: str
    predictions: Sequence[str]
    confidence: Sequence[float]
    energy_j: float


@dataclass(frozen=True)
class Choice:
    """The chosen gate and what the cascade does with it on the held-out samples."""

    stages: tuple[str, ...]
    gate: float
    shares: tuple[float, ...]
    """Share of the held-out queries each stage answers."""
    energy_j: float
    """Expected energy per query: each query pays every stage it passed through."""
    predictions: tuple[str, ...]
    """The cascade's answers on the held-out samples."""
    calibration: int
    held_out: int
    tested: int
    """Gates tested along the path (rejected, plus the one that stopped it)."""


def cascade_name(stages: Sequence[str]) -> str:
    """The name a cascade's row carries: its stages, cheapest first, joined by ``+``."""
    return "+".join(stages)


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibration and held-out indices of ``n`` shared samples: alternate rows of the (stratified) draw order, so each
    half keeps the classes' shares."""
    idx = np.arange(n)
    return idx[idx % 2 == 0], idx[idx % 2 == 1]


def route(confidences: Sequence[np.ndarray], gate: float) -> np.ndarray:
    """For each sample, the index of the stage that answers: the first non-final stage whose confidence reaches
    ``gate``, else the last."""
    n_stages = len(confidences) + 1
    who = np.full(len(confidences[0]) if confidences else 0, n_stages - 1)
    for i in reversed(range(len(confidences))):
        who = np.where(np.asarray(confidences[i], dtype=float) >= gate, i, who)
    return who


def answers(stages: Sequence[Stage], idx: np.ndarray, gate: float) -> tuple[list[str], np.ndarray]:
    """The cascade's answers on the samples ``idx`` at ``gate``, and which stage gave each."""
    who = route([np.asarray(s.confidence, dtype=float)[idx] for s in stages[:-1]], gate)
    preds = np.asarray([np.asarray(s.predictions, dtype=object)[idx] for s in stages])
    return [str(x) for x in preds[who, np.arange(len(idx))]], who


def expected_energy(stages: Sequence[Stage], shares: Sequence[float]) -> float:
    """Energy per query when stage ``i`` answers ``shares[i]`` of the queries, each having passed stages ``0..i``."""
    cumulative = np.cumsum([s.energy_j for s in stages])
    return float(np.dot(shares, cumulative))


def choose(stages: Sequence[Stage], labels: Sequence[str], threshold: float, lower_bound: LowerBound) -> Choice | None:
    """Learn-then-Test along :data:`GATES` on the calibration half; the cascade at the cheapest certified gate on the
    held-out half, or None when not even the last stage alone is certified (or too few shared samples)."""
    n = min(len(labels), *(len(s.predictions) for s in stages))
    if n < 20 or len(stages) < 2:
        return None
    labels = list(labels)[:n]
    cal, held = split(n)
    y_cal = [labels[i] for i in cal]
    chosen, tested = None, 0
    for gate in GATES:
        tested += 1
        preds, _ = answers(stages, cal, gate)
        if lower_bound(preds, y_cal) < threshold:
            break
        chosen = gate
    if chosen is None:
        return None
    preds, who = answers(stages, held, chosen)
    shares = tuple(float(np.mean(who == i)) for i in range(len(stages)))
    return Choice(
        stages=tuple(s.name for s in stages),
        gate=float(chosen),
        shares=shares,
        energy_j=expected_energy(stages, shares),
        predictions=tuple(preds),
        calibration=len(cal),
        held_out=len(held),
        tested=tested,
    )


def exact_lower_bound(successes: int, n: int, delta: float) -> float:
    """Clopper-Pearson one-sided lower bound of a proportion at level ``1 - delta`` (exact)."""
    if n <= 0 or successes <= 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(delta, successes, n - successes + 1))


def cannot_gate(c: CandidateResult, label_names: Sequence[str]) -> Unfit | None:
    """Why a measured classifier cannot answer early in a cascade, or None: a gate needs a confidence that varies, and
    a stage must answer with the task's labels."""
    if not c.probabilities:
        return Unfit(candidate=c.name, case="no_confidence")
    if len(set(c.probabilities)) == 1:
        return Unfit(candidate=c.name, case="constant_confidence", detail=f"{c.probabilities[0]:g}")
    extra = sorted(set(c.predictions or []) - set(label_names)) if label_names else []
    if extra:
        return Unfit(candidate=c.name, case="foreign_labels", detail=", ".join(extra[:3]))
    return None


def cheaper_than(candidates: Sequence[CandidateResult], last: CandidateResult) -> list[CandidateResult]:
    """The measured single classifiers that cost less per query than ``last``, cheapest first."""
    return sorted(
        (
            c
            for c in candidates
            if c.name != last.name and c.kind != "cascade" and c.status == "ok" and c.predictions and c.energy is not None
            if last.energy is not None and c.energy.per_query_j < last.energy.per_query_j
        ),
        key=lambda c: c.energy.per_query_j,
    )


MAX_CHEAP = 4
"""Cheaper candidates tried as early stages (the cheapest ones): each alone and each pair before the last stage."""
METHOD = "Learn-then-Test, fixed-sequence gates, chosen on alternate samples and scored on the others"


def combos_before(candidates: Sequence[CandidateResult], last: CandidateResult, label_names: Sequence[str]) -> list[tuple]:
    """The early stages a cascade ending in ``last`` may have: the :data:`MAX_CHEAP` cheapest measured classifiers that
    cost less and can gate, each alone and each pair (cheapest first)."""
    cheap = [c for c in cheaper_than(candidates, last) if cannot_gate(c, label_names) is None][:MAX_CHEAP]
    return [(c,) for c in cheap] + list(combinations(cheap, 2))


def _stages(combo: Sequence[CandidateResult], last: CandidateResult) -> list[Stage]:
    stages = [Stage(c.name, c.predictions, c.probabilities, c.energy.per_query_j) for c in combo]
    return [*stages, Stage(last.name, last.predictions, [1.0] * len(last.predictions), last.energy.per_query_j)]


def could_win(
    candidates: Sequence[CandidateResult],
    last: CandidateResult,
    labels: Sequence[str],
    metric: MetricSpec,
    threshold: float,
    label_names: Sequence[str] = (),
    reach: int | None = None,
    delta: float = 0.05,
) -> tuple[str, ...] | None:
    """The stages (``last`` included) of the cascade that more samples could certify: on all the samples its stages
    share, its point quality reaches ``threshold`` along the gate path at a gate where its computed energy per query is
    below ``last``'s, and (with ``reach``, the most samples the run may draw) that quality would be certified on half of
    them: an exact one-sided bound at level ``1 - delta``, split over the cascades tried, reaches ``threshold``. The
    cheapest such cascade, or None. A projection from point estimates: it only decides where to draw more samples."""
    if last.energy is None or last.predictions is None:
        return None
    scorer, best = metric_fn(metric), None
    combos = combos_before(candidates, last, label_names)
    half = (reach or 0) // 2

    def reachable(q: float) -> bool:
        return not half or exact_lower_bound(int(q * half), half, delta / max(1, len(combos))) >= threshold

    for combo in combos:
        stages = _stages(combo, last)
        n = min(len(labels), *(len(st.predictions) for st in stages))
        if n < 20:
            continue
        idx, y = np.arange(n), list(labels)[:n]
        for gate in GATES:
            preds, who = answers(stages, idx, gate)
            q = scorer(preds, y)
            if q < threshold:
                break
            if not reachable(q):
                continue
            energy = expected_energy(stages, [float(np.mean(who == i)) for i in range(len(stages))])
            if energy < last.energy.per_query_j and (best is None or energy < best[0]):
                best = (energy, tuple(st.name for st in stages))
    return best[1] if best else None


def lower_bound_for(metric: MetricSpec, delta: float, seed: int) -> LowerBound:
    """The one-sided lower bound at level ``1 - delta``: exact (Clopper-Pearson) for a proportion such as accuracy, else
    the percentile bootstrap's (approximate)."""
    scorer = metric_fn(metric)
    if metric.definition.interval == "wilson":
        return lambda preds, labels: exact_lower_bound(int(scorer.table(preds, labels)[:, 0].sum()), len(labels), delta)
    return lambda preds, labels: prediction_interval(preds, labels, metric, 1 - 2 * delta, seed)[0]


def best_cascade(
    candidates: Sequence[CandidateResult],
    last: CandidateResult,
    labels: Sequence[str],
    metric: MetricSpec,
    threshold: float,
    confidence: float,
    seed: int,
    interval_level: float | None = None,
    label_names: Sequence[str] = (),
) -> Cascade | None:
    """The least-energy cascade ending in ``last`` that is certified to meet ``threshold``, with its held-out figures.

    Early stages are the :data:`MAX_CHEAP` cheapest measured classifiers that cost less than ``last`` and can gate
    (:func:`cannot_gate`: a varying confidence, the task's ``label_names``), alone or in
    pairs; each cascade is measured on the samples all its stages share. With K cascades tried, each is certified at
    ``delta = (1 - confidence) / K`` (Bonferroni), so the chosen one meets the threshold with the stated confidence.
    Energy per query is computed from the stages' measured figures; it is None when nothing beats ``last`` alone.
    The held-out interval is at ``interval_level`` (default ``confidence``; the run's candidates use their look's
    level): the verdict is ``meets`` when its lower bound reaches the threshold too, else ``undecided``.
    """
    if last.energy is None or last.predictions is None:
        return None
    combos = combos_before(candidates, last, label_names)
    if not combos:
        return None
    bound = lower_bound_for(metric, (1 - confidence) / len(combos), seed)
    best = None
    for combo in combos:
        got = choose(_stages(combo, last), labels, threshold, bound)
        if (
            got is not None
            and got.shares[-1] < 1
            and got.energy_j < last.energy.per_query_j
            and (best is None or got.energy_j < best.energy_j)
        ):
            best = got
    if best is None:
        return None
    held = [list(labels)[i] for i in split(best.calibration + best.held_out)[1]]
    lo, hi = prediction_interval(best.predictions, held, metric, interval_level or confidence, seed)
    return Cascade(
        small=best.stages[0],
        large=best.stages[-1],
        gate=best.gate,
        deferred_share=1 - best.shares[0],
        quality=float(metric_fn(metric)(list(best.predictions), held)),
        quality_ci=[lo, hi],
        energy_per_query_j=best.energy_j,
        stages=list(best.stages),
        shares=list(best.shares),
        samples_calibration=best.calibration,
        samples_held_out=best.held_out,
        certified_at=1 - (1 - confidence) / len(combos),
        method=METHOD,
        verdict="meets" if lo >= threshold else "undecided",
    )
