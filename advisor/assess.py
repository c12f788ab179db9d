"""Judge each measured candidate against the quality goal, with confidence (pure; no I/O, no models).

A candidate *meets* an absolute threshold only when the lower bound of its quality interval does,
*fails* when the upper bound is below it, and is *undecided* otherwise (with an estimate of the
samples that would decide). A relative goal (``max_drop``) is decided by a paired bootstrap of the
difference to the reference on the same samples; for accuracy McNemar's p-value is reported too.
"""

from __future__ import annotations

from collections.abc import Sequence

from advisor.results import CandidateResult
from advisor.schema import MetricSpec
from advisor.scores import accuracy, f1_of, macro_f1, mean_score
from advisor.stats import bootstrap_interval, mcnemar, mean_interval, paired_bootstrap_difference, samples_to_decide, wilson_interval


def metric_fn(spec: MetricSpec):
    """The task metric as a plain function ``(predictions, references) -> float``."""
    if spec.name == "accuracy":
        return accuracy
    if spec.name == "macro_f1":
        return macro_f1
    if spec.generative:
        return mean_score(spec.name)
    return lambda p, r: f1_of(spec.positive_label or "", p, r)


def prediction_interval(predictions: Sequence[str], labels: Sequence[str], spec: MetricSpec, confidence: float, seed: int) -> tuple[float, float]:
    """Wilson interval for accuracy, percentile bootstrap for the other metrics; ``labels`` may run
    longer than ``predictions`` (a candidate stopped early), only the first ones count."""
    labels = list(labels)[: len(predictions)]
    if spec.name == "accuracy":
        return wilson_interval(sum(p == y for p, y in zip(predictions, labels)), len(labels), confidence)
    lo, hi = bootstrap_interval(list(predictions), labels, metric_fn(spec), confidence, seed=seed)
    return lo, hi


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


def _compare(c: CandidateResult, ref: CandidateResult, labels: Sequence[str], spec: MetricSpec, confidence: float, seed: int) -> dict:
    """Paired comparison with the reference on the same samples (bootstrap of the difference; McNemar for accuracy)."""
    d, lo, hi = paired_bootstrap_difference(c.predictions, ref.predictions, labels, metric_fn(spec), confidence, seed=seed)
    cmp = {"reference": ref.name, "difference": d, "ci": [lo, hi]}
    if spec.name == "accuracy":
        b = sum(p == y != q for p, q, y in zip(c.predictions, ref.predictions, labels))
        cc = sum(q == y != p for p, q, y in zip(c.predictions, ref.predictions, labels))
        cmp["mcnemar_p"] = mcnemar(b, cc).p_value
    return cmp


def assess(candidates: Sequence[CandidateResult], labels: Sequence[str], spec: MetricSpec, threshold: float | None, confidence: float = 0.95,
           max_drop: float | None = None, reference: str | None = None, seed: int = 0) -> tuple[list[CandidateResult], str | None]:
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
            v, need = _threshold_verdict(update["quality_ci"], c.quality, threshold, len(labels))
            verdicts.append(v)
        if ref is not None:
            cmp = c.vs_reference if c.vs_reference and c.vs_reference.get("reference") == ref.name else _compare(c, ref, labels, spec, confidence, seed)
            d, (lo, hi) = cmp["difference"], cmp["ci"]
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
