"""TF-IDF features and a logistic-regression head: the honest tiny baseline."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from advisor.runners.base import ModelInfo, Prediction, Runner, distilled_state
from advisor.runners.heads import Head, resolve_class_weight
from advisor.spec.options import TfidfOptions


class TfidfLogReg(Runner):
    """Word n-gram TF-IDF + logistic regression; the vectoriser is refitted in each fold (no leakage)."""

    Options = TfidfOptions
    trainable = True

    def load(self) -> None:
        self.pipeline: Pipeline | None = None
        if self.options.fitted:
            import joblib

            self.pipeline = joblib.load(self.options.fitted)
            self.trainable = False  # a frozen model: scored on the samples, not cross-fitted on their labels
            self._made = distilled_state(self.options.fitted)

    def save_state(self, path: Path) -> Path:
        """Write the fitted pipeline for a ``fitted:`` candidate."""
        import joblib

        joblib.dump(self.pipeline, path)
        return path

    def keep_state(self, folder: Path) -> dict:
        if self.pipeline is None:
            return {}
        return {"options": {**self.spec.options, "fitted": str(self.save_state(folder / "fitted.joblib").resolve())}}

    def proba(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        return self.pipeline.predict_proba(list(texts)), [str(c) for c in self.pipeline.classes_]

    def _new(self) -> Pipeline:
        o = self.options
        return Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        max_features=o.max_features, ngram_range=(1, o.ngram_max), min_df=o.min_df, sublinear_tf=o.sublinear_tf
                    ),
                ),
                ("head", Head(o.C, self.ctx.seed, resolve_class_weight(o.class_weight, self.ctx.class_weight))),
            ]
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.pipeline = self._new().fit(list(texts), list(labels))

    def predict(self, texts: Sequence[str]) -> Prediction:
        if self.pipeline is None:
            raise RuntimeError("fit() must run before predict()")
        return Prediction.from_proba(self.pipeline.predict_proba(list(texts)), self.pipeline.classes_)

    def info(self) -> ModelInfo:
        if self.pipeline is None:
            return ModelInfo(parameters=0, size_bytes=0)
        vocab = len(self.pipeline.named_steps["tfidf"].vocabulary_)
        head = self.pipeline.named_steps["head"]
        return ModelInfo(
            parameters=head.parameters(),
            size_bytes=len(pickle.dumps(self.pipeline)),
            details={
                "vocabulary": vocab,
                "size_note": "pickled fitted pipeline",
                "head_C": head.chosen_c,
                "class_weight": head.class_weight,
            },
        )
