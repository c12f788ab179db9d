"""The adaptive search's stopping rules, as a worker applies them: drop a candidate whose quality's upper
bound is already below the goal (see :mod:`advisor.search.adaptive` for the rules and why they are sound)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from advisor.core.assess import prediction_interval
from advisor.core.metricspec import MetricSpec
from advisor.core.stats import z_value

FIRST_LOOK_HALF_WIDTH = 0.05
"""The half-width of the quality interval a run's first look aims at (normal approximation)."""
FIRST_LOOK_MIN, FIRST_LOOK_MAX, FIRST_LOOK_PER_CLASS = 100, 1000, 20


def first_look_size(threshold: float, confidence: float, classes: int) -> int:
    """How many samples a run looks at first when the task does not fix the number: enough for an interval of about
    +-:data:`FIRST_LOOK_HALF_WIDTH` around a quality at the goal (``z^2 t (1 - t) / h^2``), at least
    :data:`FIRST_LOOK_PER_CLASS` per class, within :data:`FIRST_LOOK_MIN`..:data:`FIRST_LOOK_MAX`, rounded up to 50.

    Candidates whose verdict that look leaves open get more samples (doubling); the rest are decided on it.
    """
    t = min(max(threshold, 0.0), 1.0)
    n = z_value(confidence) ** 2 * t * (1 - t) / FIRST_LOOK_HALF_WIDTH**2
    n = min(max(n, FIRST_LOOK_MIN, FIRST_LOOK_PER_CLASS * classes), max(FIRST_LOOK_MAX, FIRST_LOOK_PER_CLASS * classes))
    return int(math.ceil(n / 50) * 50)


@dataclass(frozen=True)
class Rules:
    """What a worker needs to stop a dead end early. Picklable."""

    threshold: float
    confidence: float
    metric: MetricSpec
    first_shard: int = 32
    seed: int = 0

    def shards(self, n: int) -> list[int]:
        """Cumulative sample counts at which the bounds are looked at: 32, 64, 128, ... and ``n``."""
        ends, k = [], self.first_shard
        while k < n:
            ends.append(k)
            k *= 2
        return [*ends, n]

    def look_confidence(self, n: int) -> float:
        """The per-look confidence that keeps the chance of any wrong drop at most ``1 - confidence``."""
        return 1 - (1 - self.confidence) / len(self.shards(n))

    def should_drop(self, predictions: Sequence[str], labels: Sequence[str], n_total: int) -> bool:
        """True when the quality's upper bound on the samples so far is below the threshold."""
        return prediction_interval(predictions, labels, self.metric, self.look_confidence(n_total), self.seed)[1] < self.threshold

    def clearly_fails(self, predictions: Sequence[str], labels: Sequence[str]) -> bool:
        """True when the upper bound on the full sample, at the run's confidence, is below the threshold."""
        return prediction_interval(predictions, labels, self.metric, self.confidence, self.seed)[1] < self.threshold
