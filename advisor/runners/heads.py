"""The scikit-learn classification head fitted on features (embeddings or TF-IDF)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from advisor.runners.base import Prediction, Progress


def new_head(c: float, seed: int) -> LogisticRegression:
    """A logistic-regression head; ``c`` is the inverse regularisation strength."""
    return LogisticRegression(C=c, max_iter=2000, random_state=seed)


def head_parameters(head: LogisticRegression) -> int:
    """Weights plus biases of a fitted head."""
    return int(head.coef_.size + head.intercept_.size)


def cross_fit_features(features: np.ndarray, labels: Sequence[str], folds: int, seed: int, c: float, progress: Progress | None = None) -> Prediction:
    """Out-of-fold head predictions on precomputed features (the encoder runs once per sample)."""
    y = np.asarray(labels)
    out_labels = np.empty(len(y), dtype=object)
    out_conf = np.zeros(len(y))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(features, y):
        head = new_head(c, seed).fit(features[train], y[train])
        pred = Prediction.from_proba(head.predict_proba(features[test]), head.classes_)
        out_labels[test] = pred.labels
        out_conf[test] = pred.confidence
        if progress:
            progress(len(test))
    return Prediction([str(v) for v in out_labels], out_conf)
