"""Quality metrics as ``evaluate.Metric`` objects, built in so that no hub access is needed.

One class serves every metric of the registry (:data:`advisor.core.scores.METRICS`): it reads the
metric's description, its ``higher_is_better`` and its computation from the registry entry, so
``evaluate``, the statistics and the schema agree by construction. Predictions and references are
label names or texts (strings).
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate

from advisor.core.metricspec import MetricSpec
from advisor.core.scores import Scorer

_FEATURES = datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")})


class TaskMetric(evaluate.Metric):
    """The task's metric as an ``evaluate`` metric; ``compute`` returns ``{key: value}``.

    Attributes:
        key: the result's key, the metric's registry name (``accuracy``, ``macro_f1``, ``f1``, ...).
        higher_is_better: from the registry (True for every built-in metric).
    """

    def __init__(self, spec: MetricSpec, **kwargs):
        self.scorer = Scorer(spec.definition, spec.positive_label)
        self.key = spec.name
        self.higher_is_better = spec.definition.higher_is_better
        super().__init__(config_name=spec.name, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.scorer.definition.description,
            citation="",
            inputs_description="predictions and references: lists of label names (classification) or texts (generative)",
            features=_FEATURES,
        )

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        return {self.key: self.scorer(predictions, references)}


def build_metric(spec: MetricSpec) -> TaskMetric:
    """Instantiate the metric a task asks for."""
    return TaskMetric(spec)


def score(spec: MetricSpec, predictions: Sequence[str], references: Sequence[str]) -> float:
    """The metric's headline value for these predictions (higher is better for all built-ins)."""
    metric = build_metric(spec)
    return float(metric.compute(predictions=list(predictions), references=list(references))[metric.key])
