"""Quality metrics as ``evaluate.Metric`` subclasses, built in so that no hub access is needed.

Predictions and references are label names (strings). Every metric states ``higher_is_better``
and the key of its headline score.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate

from advisor.schema import MetricSpec
from advisor.scores import accuracy, f1_of, macro_f1, mean_score

_FEATURES = datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")})


class _LabelMetric(evaluate.Metric):
    """Shared plumbing for label-comparison metrics."""

    key: str = ""
    higher_is_better: bool = True
    description: str = ""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.description,
            citation="",
            inputs_description="predictions and references: lists of label names",
            features=_FEATURES,
        )


class Accuracy(_LabelMetric):
    """Share of predictions equal to their reference."""

    key = "accuracy"
    description = "Accuracy: fraction of exact label matches."

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        return {"accuracy": accuracy(predictions, references)}


class MacroF1(_LabelMetric):
    """Unweighted mean of per-class F1 over the classes present in references or predictions."""

    key = "macro_f1"
    description = "Macro-averaged F1 over classes."

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        return {"macro_f1": macro_f1(predictions, references)}


class PositiveF1(_LabelMetric):
    """F1 of one named positive class (e.g. ``spam``), the honest score for a rare class."""

    key = "f1"
    description = "F1 of the positive class."

    def __init__(self, positive_label: str, **kwargs):
        super().__init__(**kwargs)
        self.positive_label = positive_label

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        return {"f1": f1_of(self.positive_label, predictions, references)}


class GenerativeMetric(_LabelMetric):
    """Mean over samples of a free-text score against the reference: exact match, token F1 or ROUGE F-measure."""

    description = "Mean per-sample score of generated text against its reference."

    def __init__(self, name: str, **kwargs):
        super().__init__(**kwargs)
        self.key = name

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        return {self.key: mean_score(self.key)(predictions, references)}


def build_metric(spec: MetricSpec) -> _LabelMetric:
    """Instantiate the metric a task asks for."""
    if spec.generative:
        return GenerativeMetric(spec.name)
    if spec.name == "accuracy":
        return Accuracy()
    if spec.name == "macro_f1":
        return MacroF1()
    return PositiveF1(spec.positive_label or "")


def score(spec: MetricSpec, predictions: Sequence[str], references: Sequence[str]) -> float:
    """The metric's headline value for these predictions (higher is better for all built-ins)."""
    metric = build_metric(spec)
    return float(metric.compute(predictions=list(predictions), references=list(references))[metric.key])
