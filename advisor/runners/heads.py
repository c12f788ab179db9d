"""The scikit-learn classification head fitted on features (embeddings or TF-IDF).

By default the head's regularisation is chosen per task by an inner cross-validation on the
training fold (log-loss, a proper scoring rule), and classes are re-weighted to balance when the
task's metric is class-sensitive (F1): no constant tuned to one data set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

from advisor.runners.base import Prediction, Progress

C_GRID = np.logspace(-2, 3, 6)


def resolve_class_weight(option: str, context_default: str | None) -> str | None:
    """``auto`` follows the task (balanced for F1 metrics); ``balanced`` / ``none`` force it."""
    if option == "auto":
        return context_default
    return None if option == "none" else option


class Head(ClassifierMixin, BaseEstimator):
    """Logistic regression with a fixed ``c``, or ``c=None`` to pick it by inner cross-validation."""

    def __init__(self, c: float | None, seed: int, class_weight: str | None):
        self.c, self.seed, self.class_weight = c, seed, class_weight

    def fit(self, features, labels: Sequence[str]) -> Head:
        y = np.asarray(labels)
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(3, counts.min()))
        if self.c is None and folds >= 2:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
            model = LogisticRegressionCV(
                Cs=C_GRID, cv=cv, scoring="neg_log_loss", max_iter=3000, class_weight=self.class_weight, random_state=self.seed
            )
        else:
            model = LogisticRegression(C=self.c or 1.0, max_iter=3000, class_weight=self.class_weight, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", FutureWarning)
            self.model_ = model.fit(features, y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.model_.classes_

    def predict_proba(self, features) -> np.ndarray:
        return self.model_.predict_proba(features)

    @property
    def chosen_c(self) -> float:
        """The regularisation in use (the inner-CV choice when ``c`` was None)."""
        c = getattr(self.model_, "C_", None)
        return float(np.ravel(c)[0]) if c is not None else float(self.model_.C)

    def parameters(self) -> int:
        """Weights plus biases."""
        return int(self.model_.coef_.size + self.model_.intercept_.size)


def cross_fit_features(
    features: np.ndarray, labels: Sequence[str], folds: int, seed: int, make_head, progress: Progress | None = None
) -> Prediction:
    """Out-of-fold head predictions on precomputed features (the encoder runs once per sample)."""
    y = np.asarray(labels)
    out_labels = np.empty(len(y), dtype=object)
    out_conf = np.zeros(len(y))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(features, y):
        head = make_head().fit(features[train], y[train])
        pred = Prediction.from_proba(head.predict_proba(features[test]), head.classes_)
        out_labels[test] = pred.labels
        out_conf[test] = pred.confidence
        if progress:
            progress(len(test))
    return Prediction([str(v) for v in out_labels], out_conf)
