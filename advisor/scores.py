"""Plain-Python label metrics shared by the ``evaluate`` metrics and the statistics (no heavy imports)."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference (0 for no samples)."""
    n = len(references)
    return sum(p == r for p, r in zip(predictions, references)) / n if n else 0.0


def f1_of(label: str, predictions: Sequence[str], references: Sequence[str]) -> float:
    """F1 of one class; 0 when the class is neither predicted nor present (no true positive possible)."""
    tp = sum(1 for p, r in zip(predictions, references) if p == label and r == label)
    fp = sum(1 for p, r in zip(predictions, references) if p == label and r != label)
    fn = sum(1 for p, r in zip(predictions, references) if p != label and r == label)
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes present in references or predictions."""
    classes = sorted(set(references) | set(predictions))
    scores = [f1_of(c, predictions, references) for c in classes]
    return sum(scores) / len(scores) if scores else 0.0
