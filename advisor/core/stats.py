"""Pure statistics: intervals for quality and energy, paired comparisons, and sample-size estimates.

No I/O, no models. Quality intervals are Wilson score intervals for accuracy (a proportion) and
percentile bootstrap intervals for other metrics; comparisons between two candidates on the same
samples are paired (McNemar for accuracy, paired bootstrap otherwise).

The bootstrap is vectorised: a metric is a per-sample table and an aggregate of its column sums
(:class:`advisor.core.scores.Scorer`), so every resample is a weighted column sum, computed for a chunk
of resamples at a time as one matrix product. The resample indices are those of
``numpy.random.default_rng(seed).integers(0, n, size=(n_boot, n))``, drawn a chunk at a time
(the generator gives the same numbers either way), so the values equal those of computing the
metric on each resample in turn. Chunks bound the memory and let Ctrl-C through between them.
Nothing here imports scipy: the normal, binomial, chi-square and Student-t figures are computed directly.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Protocol

import numpy as np

N_BOOT = 1000
"""Resamples per bootstrap interval."""

CHUNK_ENTRIES = 1 << 18
"""Resample x sample entries handled in one step (about 1 MiB of float32 counts): bounds memory and Ctrl-C latency."""

CACHE_ENTRIES = 1 << 23
"""Resample count matrices up to this many entries (32 MiB as float32) are kept for reuse: every
candidate of a run, and every gate of the cascade search, is resampled on the same n and seed."""

_EXACT_F32 = 1 << 23
"""Below this many samples, float32 sums of small integer counts are exact."""


class Resampled(Protocol):
    """A metric as a per-sample table and an aggregate of column sums (see :class:`advisor.core.scores.Scorer`)."""

    def table(self, predictions: Sequence[str], references: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray: ...

    def from_sums(self, sums: np.ndarray, n: int) -> np.ndarray: ...

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> float: ...


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile: 0.95 -> 1.95996."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


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
    # at 0 or n successes the bound is exactly 0 or 1; rounding must not leave a speck
    return (0.0 if successes == 0 else max(0.0, centre - half)), (1.0 if successes == n else min(1.0, centre + half))


# --- resampling ---------------------------------------------------------------------------------------


def resample_indices(n: int, n_boot: int = N_BOOT, seed: int = 0) -> Iterator[np.ndarray]:
    """The bootstrap's resample indices, a chunk of rows at a time.

    Concatenated, the chunks equal ``default_rng(seed).integers(0, n, size=(n_boot, n))``.

    Raises:
        ValueError: if there are no samples.
    """
    if n <= 0:
        raise ValueError("cannot resample zero samples")
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ENTRIES // n)
    for start in range(0, n_boot, rows):
        yield rng.integers(0, n, size=(min(rows, n_boot - start), n))


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How many times each of ``n`` samples is drawn in each row of ``idx``."""
    b = len(idx)
    drawn = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n)
    return drawn.astype(np.float32 if n < _EXACT_F32 else np.float64)


@lru_cache(maxsize=2)
def _cached_counts(n: int, n_boot: int, seed: int) -> tuple[np.ndarray, ...]:
    chunks = tuple(_counts(idx, n) for idx in resample_indices(n, n_boot, seed))
    for c in chunks:
        c.setflags(write=False)
    return chunks


def resample_counts(n: int, n_boot: int = N_BOOT, seed: int = 0) -> Iterable[np.ndarray]:
    """Chunks of the ``n_boot x n`` matrix of how many times each sample is drawn in each resample."""
    if n * n_boot <= CACHE_ENTRIES:
        return _cached_counts(n, n_boot, seed)
    return (_counts(idx, n) for idx in resample_indices(n, n_boot, seed))


def resampled_sums(tables: Sequence[np.ndarray], n_boot: int = N_BOOT, seed: int = 0) -> list[np.ndarray]:
    """The column sums of each ``n x m`` table over the same ``n_boot`` resamples (one ``n_boot x m`` array each).

    Integer-valued tables (confusion counts) are summed exactly in float32, others in float64. The
    products run on one BLAS thread: they are small, and on a busy machine a second spinning thread
    costs more than it gains.
    """
    n = len(tables[0])
    exact = n < _EXACT_F32 and all(bool(np.all(t == np.round(t))) and float(np.abs(t).max(initial=0)) <= 2 for t in tables)
    joined = np.hstack(tables).astype(np.float32 if exact else np.float64)
    sums = np.empty((n_boot, joined.shape[1]))
    row = 0
    with _one_blas_thread():
        for w in resample_counts(n, n_boot, seed):
            sums[row : row + len(w)] = w @ joined if w.dtype == joined.dtype else w.astype(joined.dtype) @ joined
            row += len(w)
    return np.split(sums, np.cumsum([t.shape[1] for t in tables])[:-1], axis=1)


@lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return None
    return ThreadpoolController()


def _one_blas_thread():
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


def bootstrap_values(
    predictions: Sequence[str], references: Sequence[str], metric: Resampled, n_boot: int = N_BOOT, seed: int = 0
) -> np.ndarray:
    """The metric on each of ``n_boot`` resamples of the samples."""
    table = metric.table(predictions, references)
    return metric.from_sums(resampled_sums([table], n_boot, seed)[0], len(table))


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    a = (1 - confidence) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def bootstrap_interval(
    predictions: Sequence[str], references: Sequence[str], metric: Resampled, confidence: float = 0.95, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over resampled samples.

    Raises:
        ValueError: no samples, or predictions and references of different lengths.
    """
    return _percentiles(bootstrap_values(predictions, references, metric, n_boot, seed), confidence)


def paired_bootstrap_difference(
    pred_a: Sequence[str],
    pred_b: Sequence[str],
    references: Sequence[str],
    metric: Resampled,
    confidence: float = 0.95,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Observed ``metric(a) - metric(b)`` and its paired percentile bootstrap interval (same resampled samples for both).

    Raises:
        ValueError: no samples, or predictions and references of different lengths.
    """
    names = sorted(set(pred_a) | set(pred_b) | set(references))
    ta, tb = metric.table(pred_a, references, names), metric.table(pred_b, references, names)
    sa, sb = resampled_sums([ta, tb], n_boot, seed)
    diffs = metric.from_sums(sa, len(ta)) - metric.from_sums(sb, len(tb))
    return metric(pred_a, references) - metric(pred_b, references), *_percentiles(diffs, confidence)


# --- paired test, sample sizes, repeated measurements -----------------------------------------------


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
        k = min(b, c)
        p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)  # 2 P(X <= k), X ~ Binomial(n, 1/2), exact integers
        return McNemar(b, c, float(k), float(p), True)
    stat = (abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, float(stat), math.erfc(math.sqrt(stat / 2)), False)  # chi-square(1) survival function


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


def _t_central(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4, finite series)."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2.4/3.5 cos^4 + ...))
        term = total = 1.0 if df > 1 else 0.0
        for k in range(3, df - 1, 2):
            term *= c2 * (k - 1) / k
            total += term
        return 2 / math.pi * (theta + s * math.cos(theta) * total)
    term = total = 1.0  # even: sin (1 + 1/2 cos^2 + 1.3/2.4 cos^4 + ...)
    for k in range(2, df - 1, 2):
        term *= c2 * (k - 1) / k
        total += term
    return s * total


def t_value(confidence: float, df: int) -> float:
    """Two-sided Student-t quantile for integer ``df`` >= 1: (0.95, 2) -> 4.30265 (bisection, no scipy)."""
    lo, hi = 0.0, 1.0
    while _t_central(hi, df) < confidence:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _t_central(mid, df) < confidence else (lo, mid)
    return (lo + hi) / 2


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of a mean from repeated measurements (the point itself when fewer than 2)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return m, m
    half = t_value(confidence, len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return m - half, m + half
