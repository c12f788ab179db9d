"""The metric registry: every quality metric defined once, and the scorer that computes it.

Each :class:`MetricDef` says what a metric is (name, label for humans, whether higher is better,
classification or generative, interval method) and how it is computed, in two steps that point
estimates, bootstrap intervals, paired comparisons and the cascade search all share:

* a **per-sample table** (``n x m``): what each sample contributes. Classification metrics
  contribute confusion counts (accuracy: right or wrong; F1: per-class "predicted + actual" and
  true positives); generative metrics contribute their per-sample score;
* an **aggregate** from the table's column sums to the metric's value.

A resample is then a weighted column sum of the table, so :mod:`advisor.core.stats` resamples all
metrics the same way, vectorised. The schema's allowed names, the "unknown metric" error, the
``evaluate`` metrics (:mod:`advisor.core.metrics`) and the statistics all read :data:`METRICS`.

Importing this module imports neither numpy nor ``evaluate`` (the CLI reads the registry);
numpy is imported when a metric is first computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from advisor.core import textmetrics
from advisor.errors import did_you_mean

if TYPE_CHECKING:
    import numpy as np

Table = Callable[..., "np.ndarray"]
"""``(predictions, references, positive_label=None, names=None) -> n x m`` per-sample contributions."""
Aggregate = Callable[["np.ndarray", int], "np.ndarray"]


@dataclass(frozen=True)
class MetricDef:
    """One quality metric.

    Attributes:
        name: the name used in task files and results (``accuracy``, ``macro_f1``, ...).
        label: human name; ``{positive_label}`` is filled in for ``f1``.
        kind: ``classification`` (label names compared) or ``generative`` (free text scored).
        interval: ``wilson`` for a proportion of per-sample successes (McNemar's test is then
            reported for paired comparisons too), ``bootstrap`` (percentile) otherwise.
        description: one sentence for help texts and ``evaluate``'s metric info.
        table: ``(predictions, references, positive_label=None, names=None) -> n x m`` per-sample
            contributions; ``names`` fixes the label names' columns (by default the names seen), so
            that tables of different predictions on the same samples can be mixed row by row.
        aggregate: ``(sums, n) -> values``: the metric from column sums, one row per (re)sample.
        higher_is_better: True for every built-in metric.
        needs_positive_label: the metric scores one named class.
        class_balanced: the metric weighs classes rather than samples (F1 scores), so a trainable
            head is better fitted with balanced class weights.
        per_sample: generative metrics: one sample's score ``(prediction, reference) -> float``.
    """

    name: str
    label: str
    kind: Literal["classification", "generative"]
    interval: Literal["wilson", "bootstrap"]
    description: str
    table: Table
    aggregate: Aggregate
    higher_is_better: bool = True
    needs_positive_label: bool = False
    class_balanced: bool = False
    per_sample: Callable[[str, str], float] | None = None

    @property
    def generative(self) -> bool:
        """True for the free-text metrics (a mean of per-sample scores)."""
        return self.kind == "generative"

    def describe(self, positive_label: str | None = None) -> str:
        """The human name, e.g. ``macro-F1`` or ``F1 of 'spam'``."""
        return self.label.format(positive_label=positive_label)


# --- per-sample tables --------------------------------------------------------------------------------


def _check_lengths(predictions: Sequence, references: Sequence) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; they must pair up one to one")


def _codes(predictions: Sequence[str], references: Sequence[str], names: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Predictions and references as integer codes of the sorted label names, and the number of names."""
    import numpy as np

    _check_lengths(predictions, references)
    index = {name: i for i, name in enumerate(sorted(set(names or ()) | set(references) | set(predictions)))}
    p = np.fromiter((index[x] for x in predictions), dtype=np.intp, count=len(predictions))
    r = np.fromiter((index[x] for x in references), dtype=np.intp, count=len(references))
    return p, r, len(index)


def _correct_table(
    predictions: Sequence[str], references: Sequence[str], positive_label: str | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """One column: 1 where the prediction equals the reference."""
    import numpy as np

    _check_lengths(predictions, references)
    return np.fromiter((p == r for p, r in zip(predictions, references)), dtype=np.float64, count=len(references))[:, None]


def _per_class_table(
    predictions: Sequence[str], references: Sequence[str], positive_label: str | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """``2K`` columns over the K sorted label names: "predicted + actual" per class, then true positives per class."""
    import numpy as np

    p, r, k = _codes(predictions, references, names)
    out = np.zeros((len(p), 2 * k))
    rows = np.arange(len(p))
    out[rows, p] += 1.0
    out[rows, r] += 1.0
    hit = rows[p == r]
    out[hit, k + p[hit]] = 1.0
    return out


def _positive_table(
    predictions: Sequence[str], references: Sequence[str], positive_label: str | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """Two columns for the positive class: "predicted + actual", and true positive."""
    import numpy as np

    _check_lengths(predictions, references)
    p = np.fromiter((x == positive_label for x in predictions), dtype=bool, count=len(predictions))
    r = np.fromiter((x == positive_label for x in references), dtype=bool, count=len(references))
    return np.stack([p.astype(np.float64) + r, (p & r).astype(np.float64)], axis=1)


@lru_cache(maxsize=200_000)
def sample_score(name: str, prediction: str, reference: str) -> float:
    """One sample's score for the generative metric ``name``; cached, as ROUGE is slow and intervals rescore."""
    return METRICS[name].per_sample(prediction, reference)  # type: ignore[misc]


def _score_table(name: str) -> Table:
    def table(
        predictions: Sequence[str], references: Sequence[str], positive_label: str | None = None, names: Sequence[str] | None = None
    ) -> np.ndarray:
        import numpy as np

        _check_lengths(predictions, references)
        return np.fromiter((sample_score(name, p, r) for p, r in zip(predictions, references)), dtype=np.float64, count=len(references))[
            :, None
        ]

    return table


# --- aggregates from column sums --------------------------------------------------------------------


def _mean(sums: np.ndarray, n: int) -> np.ndarray:
    """The first column's sum over the sample count (0 for no samples)."""
    return sums[:, 0] / n if n else sums[:, 0] * 0.0


def _f1s(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 ``2 TP / (predicted + actual)`` (0 where the class is absent) and the presence mask."""
    import numpy as np

    k = sums.shape[1] // 2
    denom, tp = sums[:, :k], sums[:, k:]
    present = denom > 0
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=present), present


def _macro_f1(sums: np.ndarray, n: int) -> np.ndarray:
    """Unweighted mean of per-class F1 over the classes present in references or predictions (0 for none).

    Classes are added one at a time in name order, as ``sum()`` over a list of them would, so the
    value is the same to the last bit as a plain-Python computation.
    """
    import numpy as np

    f1, present = _f1s(sums)
    total = np.zeros(len(sums))
    for j in range(f1.shape[1]):
        total = total + f1[:, j]
    count = present.sum(axis=1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def _positive_f1(sums: np.ndarray, n: int) -> np.ndarray:
    """F1 of the positive class; 0 when it is neither predicted nor present."""
    return _f1s(sums)[0][:, 0]


# --- the registry -----------------------------------------------------------------------------------------


def _classification(name: str, label: str, interval: str, description: str, table: Table, aggregate: Aggregate, **kw) -> MetricDef:
    return MetricDef(name, label, "classification", interval, description, table, aggregate, **kw)  # type: ignore[arg-type]


def _generative(name: str, label: str, description: str, per_sample: Callable[[str, str], float]) -> MetricDef:
    return MetricDef(name, label, "generative", "bootstrap", description, _score_table(name), _mean, per_sample=per_sample)


def _rouge(kind: str) -> Callable[[str, str], float]:
    return lambda prediction, reference: textmetrics.rouge_scores([prediction], [reference], types=(kind,))[kind][0]


METRICS: dict[str, MetricDef] = {
    d.name: d
    for d in (
        _classification("accuracy", "accuracy", "wilson", "Accuracy: fraction of exact label matches.", _correct_table, _mean),
        _classification(
            "macro_f1", "macro-F1", "bootstrap", "Macro-averaged F1 over classes.", _per_class_table, _macro_f1, class_balanced=True
        ),
        _classification(
            "f1",
            "F1 of '{positive_label}'",
            "bootstrap",
            "F1 of the positive class.",
            _positive_table,
            _positive_f1,
            needs_positive_label=True,
            class_balanced=True,
        ),
        _generative("exact_match", "exact match", "Share of answers equal to the reference after normalisation.", textmetrics.exact_match),
        _generative("token_f1", "token F1", "Mean token-overlap F1 of the answer against the reference.", textmetrics.token_f1),
        _generative("rouge1", "ROUGE-1", "Mean ROUGE-1 F-measure against the reference.", _rouge("rouge1")),
        _generative("rouge2", "ROUGE-2", "Mean ROUGE-2 F-measure against the reference.", _rouge("rouge2")),
        _generative("rougeL", "ROUGE-L", "Mean ROUGE-L F-measure against the reference.", _rouge("rougeL")),
    )
}
"""Every built-in metric by name, classification metrics first."""

CLASSIFICATION_METRICS: tuple[str, ...] = tuple(n for n, d in METRICS.items() if d.kind == "classification")
GENERATIVE_METRICS: tuple[str, ...] = tuple(n for n, d in METRICS.items() if d.kind == "generative")


def unknown_metric(name: object) -> str:
    """The message for a metric name that is not in the registry, with a suggestion and the list."""
    return f"unknown metric '{name}'{did_you_mean(str(name), METRICS)}. Available: {', '.join(METRICS)}"


def metric_def(name: str) -> MetricDef:
    """The registry entry called ``name``.

    Raises:
        KeyError: with :func:`unknown_metric`'s message.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(unknown_metric(name)) from None


@dataclass(frozen=True)
class Scorer:
    """A metric bound to its options: call it as ``(predictions, references) -> value``.

    ``table`` and ``from_sums`` expose the two steps, so that intervals and the cascade search can
    resample or combine tables without calling the metric once per resample.
    """

    definition: MetricDef
    positive_label: str | None = None

    @classmethod
    def named(cls, name: str, positive_label: str | None = None) -> Scorer:
        """The scorer of registry metric ``name`` (raises KeyError for an unknown one)."""
        return cls(metric_def(name), positive_label)

    def table(self, predictions: Sequence[str], references: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """Per-sample contributions, ``n x m`` floats; ``names``: label names to give columns even if unseen.

        Raises:
            ValueError: the predictions and references differ in length.
        """
        return self.definition.table(predictions, references, self.positive_label, names)

    def from_sums(self, sums: np.ndarray, n: int) -> np.ndarray:
        """The metric for each row of column sums over ``n`` (re)sampled samples."""
        return self.definition.aggregate(sums, n)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> float:
        """The metric on these samples (0.0 for none)."""
        import numpy as np

        table = self.table(predictions, references)
        if not len(table):
            return 0.0
        # a running sum adds samples in order, as sum() would: the same value to the last bit as plain Python
        return float(self.from_sums(np.add.accumulate(table, axis=0)[-1:], len(table))[0])
