"""Plain-Python label metrics shared by the ``evaluate`` metrics and the statistics (no heavy imports)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache


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


@lru_cache(maxsize=200_000)
def sample_score(name: str, prediction: str, reference: str) -> float:
    """One sample's score for a generative metric (exact_match, token_f1, rouge1/2/L); cached, so that
    bootstrap resampling re-reads scores instead of recomputing them."""
    from advisor import textmetrics

    if name == "exact_match":
        return textmetrics.exact_match(prediction, reference)
    if name == "token_f1":
        return textmetrics.token_f1(prediction, reference)
    return textmetrics.rouge_scores([prediction], [reference], types=(name,))[name][0]


def mean_score(name: str) -> Callable[[Sequence[str], Sequence[str]], float]:
    """A generative metric as ``(predictions, references) -> mean per-sample score``."""

    def fn(predictions: Sequence[str], references: Sequence[str]) -> float:
        n = len(references)
        return sum(sample_score(name, p, r) for p, r in zip(predictions, references)) / n if n else 0.0

    return fn
