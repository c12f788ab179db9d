"""Judge each measured candidate against the quality goal, with confidence (pure; no I/O, no models).

A candidate *meets* an absolute threshold only when the lower bound of its quality interval does,
*fails* when the upper bound is below it, and is *undecided* otherwise (with an estimate of the
samples that would decide). A relative goal (``max_drop``) is decided by a paired bootstrap of the
difference to the reference on the same samples; for accuracy McNemar's p-value is reported too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advisor.core.metricspec import MetricSpec
from advisor.core.results import CandidateResult, Comparison
from advisor.core.scores import Scorer
from advisor.core.stats import bootstrap_interval, mcnemar, mean_interval, paired_bootstrap_difference, samples_to_decide, wilson_interval


def metric_fn(spec: MetricSpec) -> Scorer:
    """The task metric as a callable ``(predictions, references) -> float`` that intervals can resample."""
    return Scorer(spec.definition, spec.positive_label)


def prediction_interval(
    predictions: Sequence[str], labels: Sequence[str], spec: MetricSpec, confidence: float, seed: int
) -> tuple[float, float]:
    """The metric's interval (:attr:`advisor.core.scores.MetricDef.interval`: Wilson or percentile bootstrap);
    ``labels`` may run longer than ``predictions`` (a candidate stopped early), only the first ones count.

    Raises:
        ValueError: no predictions.
    """
    labels = list(labels)[: len(predictions)]
    scorer = metric_fn(spec)
    if spec.definition.interval == "wilson":  # a proportion: the table is one 0/1 column of successes
        return wilson_interval(int(scorer.table(predictions, labels)[:, 0].sum()), len(labels), confidence)
    return bootstrap_interval(predictions, labels, scorer, confidence, seed=seed)


def quality_interval(c: CandidateResult, labels: Sequence[str], spec: MetricSpec, confidence: float, seed: int) -> list[float] | None:
    """The interval of :func:`prediction_interval` for a candidate's predictions (None without any)."""
    if c.predictions is None:
        return None
    return list(prediction_interval(c.predictions, labels, spec, confidence, seed))


def _threshold_verdict(ci: list[float], quality: float, threshold: float, n: int) -> tuple[str, int | None]:
    if ci[0] >= threshold:
        return "meets", None
    if ci[1] < threshold:
        return "fails", None
    return "undecided", samples_to_decide(n, quality, ci[0], ci[1], threshold)


def _combine(*verdicts: str) -> str:
    if "fails" in verdicts:
        return "fails"
    return "undecided" if "undecided" in verdicts else "meets"


def _compare(c: CandidateResult, ref: CandidateResult, labels: Sequence[str], spec: MetricSpec, confidence: float, seed: int) -> Comparison:
    """Paired comparison with the reference on the same samples (bootstrap of the difference; McNemar for a proportion)."""
    scorer = metric_fn(spec)
    d, lo, hi = paired_bootstrap_difference(c.predictions, ref.predictions, labels, scorer, confidence, seed=seed)
    p_value = None
    if spec.definition.interval == "wilson":
        mine, theirs = (scorer.table(preds, labels)[:, 0] > 0 for preds in (c.predictions, ref.predictions))
        p_value = mcnemar(int(np.sum(mine & ~theirs)), int(np.sum(theirs & ~mine))).p_value
    return Comparison(reference=ref.name, difference=d, ci=[lo, hi], mcnemar_p=p_value)


def assess(
    candidates: Sequence[CandidateResult],
    labels: Sequence[str],
    spec: MetricSpec,
    threshold: float | None,
    confidence: float = 0.95,
    max_drop: float | None = None,
    reference: str | None = None,
    seed: int = 0,
) -> tuple[list[CandidateResult], str | None]:
    """Return the candidates with intervals and verdicts filled in, and the reference used (for ``max_drop``).

    The reference is ``reference`` when it was measured, else the highest-quality candidate.
    """
    ok = [c for c in candidates if c.status == "ok" and c.predictions is not None and c.quality is not None]
    ref = None
    if max_drop is not None and ok:
        ref = next((c for c in ok if c.name == reference), None) or max(ok, key=lambda c: (c.quality, -(c.energy_per_query_j or 0)))
    out = []
    for c in candidates:
        if c not in ok:
            out.append(c)
            continue
        # intervals depend only on the candidate's own predictions: kept when already computed
        update: dict = {"quality_ci": c.quality_ci or quality_interval(c, labels, spec, confidence, seed)}
        if c.energy and c.energy.repeats_per_query_j:
            update["energy"] = c.energy.model_copy(update={"ci_per_query_j": list(mean_interval(c.energy.repeats_per_query_j, confidence))})
        verdicts, need = [], None
        if threshold is not None:
            v, need = _threshold_verdict(
                update["quality_ci"], c.quality, threshold, len(c.predictions)
            )  # scored on a prefix when measured on fewer samples
            verdicts.append(v)
        if ref is not None:
            cmp = (
                c.vs_reference
                if c.vs_reference and c.vs_reference.reference == ref.name
                else _compare(c, ref, labels, spec, confidence, seed)
            )
            d, (lo, hi) = cmp.difference, cmp.ci
            update["vs_reference"] = cmp
            if c.name == ref.name or lo >= -max_drop:
                verdicts.append("meets")
            elif hi < -max_drop:
                verdicts.append("fails")
            else:
                verdicts.append("undecided")
                drop_need = samples_to_decide(len(labels), d, lo, hi, -max_drop)
                need = None if drop_need is None else max(need or 0, drop_need)
        update["verdict"] = _combine(*verdicts) if verdicts else None
        update["samples_needed"] = need if update["verdict"] == "undecided" else None
        out.append(c.model_copy(update=update))
    return out, (ref.name if ref else None)
