"""The small protocol every candidate kind implements, and shared helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from advisor.spec.options import RunnerOptions
from advisor.spec.schema import CandidateSpec, PromptSpec

Progress = Callable[[int], None]
"""Called with the number of queries just completed."""


@dataclass
class Prediction:
    """Predicted label names and the model's confidence in each (probability of the chosen label, 0..1)."""

    labels: list[str]
    confidence: np.ndarray
    tokens: list[int] | None = None  # generated tokens per query (generative runners), for energy per token
    truncated: list[bool] | None = None  # generation cut at the token limit

    @classmethod
    def from_proba(cls, proba: np.ndarray, classes: Sequence[str]) -> Prediction:
        """Arg-max over a probability matrix whose columns follow ``classes``."""
        idx = proba.argmax(axis=1)
        return cls([str(classes[i]) for i in idx], proba[np.arange(len(idx)), idx].astype(float))

    @classmethod
    def concat(cls, parts: Sequence[Prediction]) -> Prediction:
        labels = [label for p in parts for label in p.labels]
        conf = np.concatenate([p.confidence for p in parts]) if parts else np.zeros(0)
        if parts and all(p.tokens is not None for p in parts):
            return cls(
                labels, conf, [t for p in parts for t in p.tokens], [x for p in parts for x in (p.truncated or [False] * len(p.labels))]
            )
        return cls(labels, conf)


@dataclass
class ModelInfo:
    """Facts measured from the loaded model, never typed in by hand."""

    parameters: int
    size_bytes: int
    details: dict[str, Any] = field(default_factory=dict)  # facts for people, e.g. the tokenizer or the head's C
    derived: str | None = None  # a variant or derived model: how it was made from its parent, in words
    answer_parser: str | None = None  # a generating classifier: how its answer is read as a label


@dataclass(frozen=True)
class Made:
    """A model the runner made (fine-tuned on the samples, distilled from a parent).

    Attributes:
        method: how, in words (``fine-tuned on the samples (SetFit)``).
        what: the step, in words (``fine-tune the deployed model``).
        during: the phase it ran in, whose metered reading is its cost: ``load`` or ``train``.
        path: where it is kept (the cache's ``made/`` folder).
        earlier: the lineage of the earlier run that made it, when it was reused (its cost is that run's).
    """

    method: str
    what: str
    during: Literal["load", "train"]
    path: str
    earlier: dict | None = None


def distilled_state(fitted: str | None) -> Made | None:
    """What made a ``fitted:`` state saved by ``advisor distill``, from the lineage beside it (None for another state).

    The distillation ran before the measuring run, metered in its own phase; its figures come from the lineage,
    like a bespoke model an earlier run made."""
    if not fitted:
        return None
    import json

    folder = Path(fitted).parent
    try:
        lineage = json.loads((folder / "lineage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(lineage, dict) or lineage.get("method") != "distilled":
        return None
    what = f"label {lineage.get('texts', '?')} texts with {lineage.get('teacher', 'the teacher')}, then train on those labels"
    return Made(f"distilled from {lineage.get('teacher', 'a teacher')}'s labels", what, "load", str(folder), lineage)


@dataclass(frozen=True)
class RunContext:
    """What a runner may know about the task besides its samples."""

    label_names: list[str]
    prompt: PromptSpec
    seed: int = 0
    batch_size: int = 16
    few_shot_texts: list[str] = field(default_factory=list)
    few_shot_labels: list[str] = field(default_factory=list)
    class_weight: str | None = None  # "balanced" when the task's metric is class-sensitive (F1)
    task_type: str = "text-classification"
    device: str = "cpu"  # where the model runs (a torch device string)
    work_dir: str | None = None  # a folder for this run's reusable work (e.g. embeddings of samples), removed at its end


class Runner:
    """One candidate model. Construction is inert; :meth:`load` does the work.

    Subclasses set ``trainable`` and implement :meth:`load`, :meth:`predict` and :meth:`info`;
    trainable ones also implement :meth:`fit` and may override :meth:`cross_fit`.
    """

    Options: ClassVar[type[RunnerOptions]] = RunnerOptions
    trainable: ClassVar[bool] = False
    inference_fixed: ClassVar[bool] = False
    """True when training on more samples cannot change the cost of inference (a frozen encoder and a small
    head): a measurement on more samples then keeps the earlier inference figures."""

    def __init__(self, spec: CandidateSpec, path: Path | None, ctx: RunContext, tokenizer_path: Path | None = None):
        self.spec = spec
        self.path = path
        self.tokenizer_path = tokenizer_path
        self.ctx = ctx
        self.options = self.Options(**spec.options)

    @classmethod
    def not_applicable(cls, spec: CandidateSpec, ctx: RunContext) -> str | None:
        """Why this candidate cannot serve the task (checked before anything loads), or None."""
        return None

    def load(self) -> None:
        """Load weights into memory."""
        raise NotImplementedError

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """Train the trainable part on labelled texts."""
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    def fit_deployed(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """Train the model that is deployed, on all samples, after :meth:`cross_fit` (which it may reuse)."""
        self.fit(texts, labels)

    def fit_for_serving(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        """Make the model answer for a serving sweep, as cheaply as gives the deployed model's inference cost."""
        self.fit(texts, labels)

    def made(self) -> Made | None:
        """What the runner made (a fine-tuned or distilled model), else None. Runners that make a model keep it in
        ``_made``."""
        return getattr(self, "_made", None)

    def predict(self, texts: Sequence[str]) -> Prediction:
        """Predict labels for one batch of texts."""
        raise NotImplementedError

    def cross_fit(self, texts: Sequence[str], labels: Sequence[str], folds: int, seed: int, progress: Progress | None = None) -> Prediction:
        """Out-of-fold predictions: every sample predicted by a model that did not see it in training."""
        from sklearn.model_selection import StratifiedKFold

        texts, labels = list(texts), list(labels)
        out_labels: list[str] = [""] * len(texts)
        out_conf = np.zeros(len(texts))
        for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(texts, labels):
            self.fit([texts[i] for i in train], [labels[i] for i in train])
            pred = self.predict([texts[i] for i in test])
            for j, i in enumerate(test):
                out_labels[i] = pred.labels[j]
                out_conf[i] = pred.confidence[j]
            if progress:
                progress(len(test))
        return Prediction(out_labels, out_conf)

    def info(self) -> ModelInfo:
        """Parameter count and size on disk, measured from what is loaded."""
        raise NotImplementedError

    def proba(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """A probability per label for each text, and the labels in column order (models with a fitted head)."""
        raise TypeError(f"{self.spec.name} gives the confidence of its answer only, not a probability per label")

    def keep_state(self, folder: Path) -> dict[str, Any]:
        """Write the fitted part of the model that was measured as deployed into ``folder``; return the registry-entry
        fields that load this very model again (paths absolute). A ready model has nothing fitted: ``{}``."""
        return {}

    def deployed_files(self, scratch: Path) -> dict[str, Path | None]:
        """The files a package of the loaded model needs, by role: ``source`` and ``tokenizer`` (a file or a folder;
        None when there is none). ``scratch`` is a folder for files the runner writes out (e.g. a tokenizer)."""
        return {"source": self.path, "tokenizer": self.tokenizer_path}

    def package_options(self) -> dict[str, Any]:
        """The entry's options for the packaged form of the loaded model (e.g. without a step the package already did)."""
        return dict(self.spec.options)

    def set_threads(self, threads: int) -> None:
        """Serve with ``threads`` intra-op threads (the serving sweep): PyTorch's and the BLAS libraries' thread pools."""
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)

    def close(self) -> None:
        """Release the model's memory."""
        for attr in list(vars(self)):
            if attr not in {"spec", "path", "tokenizer_path", "ctx", "options", "trainable"}:
                setattr(self, attr, None)
