"""The adaptive search's stopping rules, as a worker applies them: drop a candidate whose quality's upper
bound is already below the goal (see :mod:`advisor.search.adaptive` for the rules and why they are sound)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advisor.core.assess import prediction_interval
from advisor.core.metricspec import MetricSpec


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
