"""Pure statistics: intervals for quality and energy, paired comparisons, and sample-size estimates.

No I/O, no models. Quality intervals are Wilson score intervals for accuracy (a proportion) and
percentile bootstrap intervals for other metrics; comparisons between two candidates on the same
samples are paired (McNemar for accuracy, paired bootstrap otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

Metric = Callable[[Sequence[str], Sequence[str]], float]


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile: 0.95 -> 1.95996."""
    return float(sps.norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Raises:
        ValueError: if n <= 0 or successes is outside [0, n].
    """
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(predictions: Sequence[str], references: Sequence[str], metric: Metric, confidence: float = 0.95,
                       n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over resampled samples."""
    p, r = np.asarray(predictions, dtype=object), np.asarray(references, dtype=object)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(r), size=(n_boot, len(r)))
    values = np.array([metric(p[i], r[i]) for i in idx])
    a = (1 - confidence) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def paired_bootstrap_difference(pred_a: Sequence[str], pred_b: Sequence[str], references: Sequence[str], metric: Metric,
                                confidence: float = 0.95, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Observed ``metric(a) - metric(b)`` and its paired percentile bootstrap interval (same resampled samples for both)."""
    a, b, r = (np.asarray(x, dtype=object) for x in (pred_a, pred_b, references))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(r), size=(n_boot, len(r)))
    diffs = np.array([metric(a[i], r[i]) - metric(b[i], r[i]) for i in idx])
    q = (1 - confidence) / 2
    return metric(a, r) - metric(b, r), float(np.quantile(diffs, q)), float(np.quantile(diffs, 1 - q))


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on paired correctness: ``b`` = only A right, ``c`` = only B right."""

    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool


def mcnemar(b: int, c: int, exact: bool | None = None) -> McNemar:
    """McNemar's test of equal error rates from the discordant counts.

    Exact (binomial) when ``b + c < 25`` unless told otherwise; else the chi-square statistic
    with continuity correction ``(|b - c| - 1)^2 / (b + c)``.
    """
    n = b + c
    if n == 0:
        return McNemar(b, c, 0.0, 1.0, True)
    exact = n < 25 if exact is None else exact
    if exact:
        p = min(1.0, 2 * sps.binom.cdf(min(b, c), n, 0.5))
        return McNemar(b, c, float(min(b, c)), float(p), True)
    stat = (abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, float(stat), float(sps.chi2.sf(stat, 1)), False)


def samples_to_decide(n: int, value: float, low: float, high: float, bound: float) -> int | None:
    """Samples at which the observed interval would clear ``bound``, assuming its width shrinks as 1/sqrt(n).

    Works for any metric, since it scales the interval actually used: the side facing the bound
    must shrink from its observed length to the distance between ``value`` and ``bound``.
    None when ``value`` sits on the bound (no sample size decides it).
    """
    margin = abs(value - bound)
    if margin == 0:
        return None
    side = (value - low) if value >= bound else (high - value)
    return max(n + 1, math.ceil(n * (side / margin) ** 2))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of a mean from repeated measurements (the point itself when fewer than 2)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return m, m
    half = float(sps.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m - half, m + half
