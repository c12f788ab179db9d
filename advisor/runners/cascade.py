"""A cascade as one model: stages that answer in order of cost, each when its confidence reaches the gate, the last
answering the rest. Used to meter a cascade (:mod:`advisor.measure.cascade`) and to serve an exported one
(:func:`advisor.load`); the rule is :func:`advisor.core.cascades.route`'s, applied batch by batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advisor.runners.base import ModelInfo, Prediction, Runner
from advisor.spec.options import RunnerOptions


class Pipeline:
    """Stages that answer in order: a non-final stage answers a query when its confidence reaches ``gate``; the last
    answers the rest. Quacks like a runner's ``predict`` and counts which stage answered each query."""

    def __init__(self, runners: Sequence[Runner], gate: float):
        self.runners, self.gate = list(runners), gate
        self.answered = np.zeros(len(self.runners), dtype=int)

    def predict(self, texts: Sequence[str]) -> Prediction:
        texts = list(texts)
        labels: list[str | None] = [None] * len(texts)
        confidence = np.zeros(len(texts))
        left = np.arange(len(texts))
        for i, runner in enumerate(self.runners):
            if len(left) == 0:
                break
            out = runner.predict([texts[j] for j in left])
            conf = np.asarray(out.confidence, dtype=float)
            take = np.ones(len(left), dtype=bool) if i == len(self.runners) - 1 else conf >= self.gate
            for k in np.flatnonzero(take):
                labels[left[k]], confidence[left[k]] = out.labels[k], conf[k]
            self.answered[i] += int(take.sum())
            left = left[~take]
        return Prediction([str(x) for x in labels], confidence)

    def proba(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """A probability per label for each text, from the stage that answers it (every stage needs a fitted head: a
        stage without one raises TypeError). A stage answers when its largest probability reaches the gate."""
        texts, rows, order = list(texts), np.zeros((0, 0)), None
        left = np.arange(len(texts))
        for i, runner in enumerate(self.runners):
            if len(left) == 0:
                break
            matrix, cols = runner.proba([texts[j] for j in left])
            if order is None:
                order, rows = list(cols), np.zeros((len(texts), len(cols)))
            matrix = np.asarray(matrix, dtype=float)[:, [list(cols).index(c) for c in order]]
            take = np.ones(len(left), dtype=bool) if i == len(self.runners) - 1 else matrix.max(axis=1) >= self.gate
            rows[left[take]] = matrix[take]
            left = left[~take]
        return rows, order or []

    def set_threads(self, threads: int) -> None:
        for r in self.runners:
            r.set_threads(threads)

    def shares(self) -> list[float]:
        """Share of the queries each stage answered so far (zeros before any)."""
        total = int(self.answered.sum())
        return [float(x / total) if total else 0.0 for x in self.answered]

    def close(self) -> None:
        for r in self.runners:
            r.close()


class CascadePackage(Runner):
    """An exported cascade as a candidate (``kind: cascade-package``; ``source`` is the package folder, its files already
    checked against their hashes when the entry was read): e.g. the model in production for ``advisor check``."""

    Options = RunnerOptions

    def load(self) -> None:
        from advisor.runners.packaged import package_runner
        from advisor.spec.package import read_manifest

        self._pipeline = package_runner(self.path, read_manifest(self.path, verify=False), self.ctx.device)

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    def predict(self, texts: Sequence[str]) -> Prediction:
        return self.pipeline.predict(texts)

    def proba(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        return self.pipeline.proba(texts)

    def info(self) -> ModelInfo:
        infos = [r.info() for r in self.pipeline.runners]
        return ModelInfo(
            parameters=sum(i.parameters for i in infos),
            size_bytes=sum(i.size_bytes for i in infos),
            details={"stages": len(infos), "gate": self.pipeline.gate},
        )

    def set_threads(self, threads: int) -> None:
        self.pipeline.set_threads(threads)

    def close(self) -> None:
        if getattr(self, "_pipeline", None) is not None:
            self._pipeline.close()
        super().close()
